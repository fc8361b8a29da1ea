// Berth's terminal: a VT100/xterm subset (cursor movement, erasing, insert/delete, scroll
// regions, SGR colours, the alternate screen), drawn as lines of coloured spans in an element.
// Written for the dashboard (no third-party code): `new Term(el, send)`, `term.write(bytes)`.
"use strict";

class Term {
  constructor(el, send) {
    this.el = el;
    this.send = send;
    this.cols = 80;
    this.rows = 24;
    this.decoder = new TextDecoder("utf-8");
    this.reset();
    el.addEventListener("keydown", (e) => this.key(e));
    el.addEventListener("paste", (e) => {
      e.preventDefault();
      this.send(e.clipboardData.getData("text"));
    });
  }

  reset() {
    this.grid = [];
    for (let r = 0; r < this.rows; r++) this.grid.push(this.blank());
    this.x = 0;
    this.y = 0;
    this.attr = "";
    this.top = 0;
    this.bottom = this.rows - 1;
    this.saved = [0, 0];
    this.state = "text";
    this.params = "";
    this.scrollback = [];
    this.render();
  }

  blank() {
    const line = [];
    for (let c = 0; c < this.cols; c++) line.push([" ", ""]);
    return line;
  }

  resize(cols, rows) {
    while (this.grid.length < rows) this.grid.push(this.blank());
    while (this.grid.length > rows) this.scrollback.push(this.grid.shift());
    for (const line of this.grid) {
      while (line.length < cols) line.push([" ", ""]);
      line.length = cols;
    }
    this.cols = cols;
    this.rows = rows;
    this.top = 0;
    this.bottom = rows - 1;
    this.x = Math.min(this.x, cols - 1);
    this.y = Math.min(this.y, rows - 1);
    this.render();
  }

  write(bytes) {
    const text = typeof bytes === "string" ? bytes : this.decoder.decode(bytes, { stream: true });
    for (const ch of text) this.feed(ch);
    this.render();
  }

  scrollUp() {
    const gone = this.grid.splice(this.top, 1)[0];
    if (this.top === 0) {
      this.scrollback.push(gone);
      if (this.scrollback.length > 1000) this.scrollback.shift();
    }
    this.grid.splice(this.bottom, 0, this.blank());
  }

  newline() {
    if (this.y === this.bottom) this.scrollUp();
    else if (this.y < this.rows - 1) this.y++;
  }

  put(ch) {
    if (this.x >= this.cols) {
      this.x = 0;
      this.newline();
    }
    this.grid[this.y][this.x] = [ch, this.attr];
    this.x++;
  }

  feed(ch) {
    const c = ch.codePointAt(0);
    if (this.state === "esc") {
      if (ch === "[") { this.state = "csi"; this.params = ""; }
      else if (ch === "]") { this.state = "osc"; }
      else if (ch === "(" || ch === ")") { this.state = "charset"; }
      else if (ch === "7") { this.saved = [this.x, this.y]; this.state = "text"; }
      else if (ch === "8") { [this.x, this.y] = this.saved; this.state = "text"; }
      else if (ch === "M") { if (this.y === this.top) { this.grid.splice(this.bottom, 1); this.grid.splice(this.top, 0, this.blank()); } else if (this.y > 0) this.y--; this.state = "text"; }
      else if (ch === "c") { this.reset(); }
      else this.state = "text";
      return;
    }
    if (this.state === "charset") { this.state = "text"; return; }
    if (this.state === "osc") {
      if (c === 7) this.state = "text";
      else if (c === 0x1b) this.state = "osc-esc";
      return;
    }
    if (this.state === "osc-esc") { this.state = "text"; return; }
    if (this.state === "csi") {
      if (c >= 0x40 && c <= 0x7e) { this.csi(ch, this.params); this.state = "text"; }
      else this.params += ch;
      return;
    }
    if (c === 0x1b) { this.state = "esc"; return; }
    if (ch === "\r") { this.x = 0; return; }
    if (ch === "\n" || c === 0x0b || c === 0x0c) { this.newline(); return; }
    if (c === 8) { if (this.x > 0) this.x--; return; }
    if (ch === "\t") { this.x = Math.min(this.cols - 1, (Math.floor(this.x / 8) + 1) * 8); return; }
    if (c < 0x20 || c === 0x7f) return;
    this.put(ch);
  }

  csi(f, p) {
    const priv = p.startsWith("?");
    const ns = (priv ? p.slice(1) : p).split(";").map((v) => parseInt(v, 10));
    const n = (i, d) => (Number.isNaN(ns[i]) || ns[i] === undefined || ns[i] === 0 ? d : ns[i]);
    const clampY = (v) => Math.max(0, Math.min(this.rows - 1, v));
    const clampX = (v) => Math.max(0, Math.min(this.cols - 1, v));
    switch (f) {
      case "A": this.y = Math.max(this.top, this.y - n(0, 1)); break;
      case "B": this.y = Math.min(this.bottom, this.y + n(0, 1)); break;
      case "C": this.x = clampX(this.x + n(0, 1)); break;
      case "D": this.x = clampX(this.x - n(0, 1)); break;
      case "E": this.y = clampY(this.y + n(0, 1)); this.x = 0; break;
      case "F": this.y = clampY(this.y - n(0, 1)); this.x = 0; break;
      case "G": case "`": this.x = clampX(n(0, 1) - 1); break;
      case "d": this.y = clampY(n(0, 1) - 1); break;
      case "H": case "f": this.y = clampY(n(0, 1) - 1); this.x = clampX(n(1, 1) - 1); break;
      case "J": {
        const m = Number.isNaN(ns[0]) ? 0 : ns[0];
        if (m === 2 || m === 3) { for (let r = 0; r < this.rows; r++) this.grid[r] = this.blank(); }
        else if (m === 0) { this.eraseLine(0); for (let r = this.y + 1; r < this.rows; r++) this.grid[r] = this.blank(); }
        else if (m === 1) { this.eraseLine(1); for (let r = 0; r < this.y; r++) this.grid[r] = this.blank(); }
        break;
      }
      case "K": this.eraseLine(Number.isNaN(ns[0]) ? 0 : ns[0]); break;
      case "L": for (let i = 0; i < n(0, 1); i++) { this.grid.splice(this.bottom, 1); this.grid.splice(this.y, 0, this.blank()); } break;
      case "M": for (let i = 0; i < n(0, 1); i++) { this.grid.splice(this.y, 1); this.grid.splice(this.bottom, 0, this.blank()); } break;
      case "P": { const line = this.grid[this.y]; line.splice(this.x, n(0, 1)); while (line.length < this.cols) line.push([" ", ""]); break; }
      case "@": { const line = this.grid[this.y]; for (let i = 0; i < n(0, 1); i++) line.splice(this.x, 0, [" ", ""]); line.length = this.cols; break; }
      case "X": for (let i = 0; i < n(0, 1) && this.x + i < this.cols; i++) this.grid[this.y][this.x + i] = [" ", ""]; break;
      case "S": for (let i = 0; i < n(0, 1); i++) this.scrollUp(); break;
      case "r": this.top = clampY(n(0, 1) - 1); this.bottom = clampY(n(1, this.rows) - 1); this.x = 0; this.y = this.top; break;
      case "s": this.saved = [this.x, this.y]; break;
      case "u": [this.x, this.y] = this.saved; break;
      case "m": this.sgr(ns); break;
      case "h": case "l":
        if (priv && (ns[0] === 1049 || ns[0] === 47 || ns[0] === 1047)) {
          for (let r = 0; r < this.rows; r++) this.grid[r] = this.blank();
          if (f === "h") { this.x = 0; this.y = 0; }
        }
        break;
      case "n": if (ns[0] === 6) this.send(`\x1b[${this.y + 1};${this.x + 1}R`); break;
      default: break;
    }
  }

  eraseLine(m) {
    const line = this.grid[this.y];
    const [from, to] = m === 0 ? [this.x, this.cols] : m === 1 ? [0, this.x + 1] : [0, this.cols];
    for (let i = from; i < to; i++) line[i] = [" ", ""];
  }

  sgr(ns) {
    const classes = new Set(this.attr ? this.attr.split(" ") : []);
    for (let i = 0; i < ns.length; i++) {
      const v = Number.isNaN(ns[i]) ? 0 : ns[i];
      if (v === 0) classes.clear();
      else if (v === 1) classes.add("b");
      else if (v === 4) classes.add("u");
      else if (v === 7) classes.add("rev");
      else if (v === 22) classes.delete("b");
      else if (v === 24) classes.delete("u");
      else if (v === 27) classes.delete("rev");
      else if ((v >= 30 && v <= 37) || (v >= 90 && v <= 97)) { [...classes].filter((c) => c.startsWith("f")).forEach((c) => classes.delete(c)); classes.add("f" + (v >= 90 ? v - 82 : v - 30)); }
      else if (v === 39) [...classes].filter((c) => c.startsWith("f")).forEach((c) => classes.delete(c));
      else if ((v >= 40 && v <= 47) || (v >= 100 && v <= 107)) { [...classes].filter((c) => c.startsWith("g")).forEach((c) => classes.delete(c)); classes.add("g" + (v >= 100 ? v - 92 : v - 40)); }
      else if (v === 49) [...classes].filter((c) => c.startsWith("g")).forEach((c) => classes.delete(c));
      else if (v === 38 || v === 48) i += ns[i + 1] === 5 ? 2 : 4; // 256/true colours: skipped
    }
    this.attr = [...classes].join(" ");
  }

  // The grid as lines of spans (one per run of the same attributes), the cursor marked.
  render() {
    const frag = document.createDocumentFragment();
    this.grid.forEach((line, r) => {
      const div = document.createElement("div");
      div.className = "line";
      let run = "";
      let attr = null;
      const flush = () => {
        if (run === "") return;
        const s = document.createElement("span");
        if (attr) s.className = attr;
        s.textContent = run;
        div.appendChild(s);
        run = "";
      };
      line.forEach(([ch, a], c) => {
        const at = r === this.y && c === this.x ? (a ? a + " cur" : "cur") : a;
        if (at !== attr) { flush(); attr = at; }
        run += ch;
      });
      flush();
      frag.appendChild(div);
    });
    this.el.replaceChildren(frag);
  }

  key(e) {
    if (e.metaKey) return;
    const map = {
      Enter: "\r", Backspace: "\x7f", Tab: "\t", Escape: "\x1b",
      ArrowUp: "\x1b[A", ArrowDown: "\x1b[B", ArrowRight: "\x1b[C", ArrowLeft: "\x1b[D",
      Home: "\x1b[H", End: "\x1b[F", Delete: "\x1b[3~", PageUp: "\x1b[5~", PageDown: "\x1b[6~",
    };
    let out = null;
    if (e.ctrlKey && e.key.length === 1) {
      const k = e.key.toUpperCase().charCodeAt(0);
      if (k >= 64 && k <= 95) out = String.fromCharCode(k - 64);
    } else if (map[e.key]) out = map[e.key];
    else if (e.key.length === 1 && !e.altKey) out = e.key;
    if (out !== null) {
      e.preventDefault();
      this.send(out);
    }
  }

  // The screen's text (for tests and the accessible name).
  text() {
    return this.grid.map((l) => l.map((c) => c[0]).join("").trimEnd()).join("\n");
  }
}

window.Term = Term;
