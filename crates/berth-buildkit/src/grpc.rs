//! gRPC over a hijacked connection, both ways: a server for the control API (`/grpc`, the
//! client speaks first) and a client for a session (`/session`, the daemon calls the
//! services the client exposes). tonic's generated code is not used: the handful of methods
//! are dispatched by path here, with tonic's codec and status handling.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use tonic::Status;
use tonic::body::Body;
use tonic_prost::ProstCodec;

pub type Resp = http::Response<Body>;
pub type Req = http::Request<Incoming>;

/// Answer one unary call with `f`.
pub async fn unary<I, O, F, Fut>(req: Req, f: F) -> Resp
where
    I: prost::Message + Default + Send + 'static,
    O: prost::Message + Send + 'static,
    F: FnOnce(tonic::Request<I>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<O, Status>> + Send + 'static,
{
    let svc = tower::service_fn(move |r: tonic::Request<I>| {
        let f = f.clone();
        async move { f(r).await.map(tonic::Response::new) }
    });
    tonic::server::Grpc::new(ProstCodec::<O, I>::default())
        .unary(svc, req)
        .await
}

/// The messages a server-streaming call answers with.
pub type Out<O> = tokio_stream::wrappers::ReceiverStream<Result<O, Status>>;

/// Answer one server-streaming call with `f`, which returns the stream.
pub async fn server_streaming<I, O, F, Fut>(req: Req, f: F) -> Resp
where
    I: prost::Message + Default + Send + 'static,
    O: prost::Message + Send + 'static,
    F: FnOnce(tonic::Request<I>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Out<O>, Status>> + Send + 'static,
{
    let svc = tower::service_fn(move |r: tonic::Request<I>| {
        let f = f.clone();
        async move { f(r).await.map(tonic::Response::new) }
    });
    tonic::server::Grpc::new(ProstCodec::<O, I>::default())
        .server_streaming(svc, req)
        .await
}

/// A method this server does not have.
pub fn unimplemented(path: &str) -> Resp {
    Status::unimplemented(format!("{path} is not implemented by Berth's builder")).into_http()
}

/// Serve HTTP/2 (gRPC) on `io` until the client goes.
pub async fn serve<IO, H, Fut>(io: IO, handler: H)
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    H: Fn(Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Resp> + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: Req| {
        let h = handler.clone();
        async move { Ok::<_, Infallible>(h(req).await) }
    });
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(io, svc)
        .await;
}

/// A gRPC client's transport: one HTTP/2 connection the daemon dialled into a session.
#[derive(Clone)]
pub struct H2(hyper::client::conn::http2::SendRequest<Body>);

impl tower::Service<http::Request<Body>> for H2 {
    type Response = http::Response<Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let mut s = self.0.clone();
        Box::pin(async move { s.send_request(req).await })
    }
}

/// Start HTTP/2 as the client on `io`; the connection's driver is returned to be awaited (it
/// ends when the peer closes).
pub async fn connect<IO>(
    io: IO,
) -> Result<(H2, impl Future<Output = ()> + Send + 'static), hyper::Error>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
    Ok((H2(send), async move {
        let _ = conn.await;
    }))
}

/// A tonic client over a session's connection.
pub fn client(h: &H2) -> tonic::client::Grpc<H2> {
    tonic::client::Grpc::with_origin(h.clone(), http::Uri::from_static("http://session"))
}

/// A codec for a call from the daemon: encodes `I`, decodes `O`.
pub fn codec<I, O>() -> ProstCodec<I, O>
where
    I: prost::Message + Send + 'static,
    O: prost::Message + Default + Send + 'static,
{
    ProstCodec::default()
}
