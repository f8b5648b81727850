//! Where `verify` reads the issuer's documents: over HTTPS from the issuer URL, as AWS
//! STS does (a private issuer's through its CloudFront distribution), or through the
//! provider (S3 GetObject) when an emulator stands in for AWS.
//!
//! The HTTPS client has short timeouts, follows few redirects and caps the body size, so
//! a dead or slow issuer makes a failed check, never a hang.

use std::time::Duration;

use crate::provider::Provider;
use crate::resource::{ObjectSpec, ResourceId, ResourceKind, Spec};

/// Largest document accepted (discovery documents and JWKS are a few KiB).
const MAX_BODY: usize = 1 << 20;

/// How the issuer's documents are read.
pub enum Documents {
    /// GET `<issuer>/<key>`, as STS does.
    Https(Https),
    /// S3 GetObject through the provider (emulators: moto answers unsigned GETs of
    /// `.well-known/openid-configuration` with its Cognito document, not the object).
    Provider,
}

/// A small HTTPS client for the issuer.
pub struct Https {
    client: reqwest::Client,
}

impl Https {
    /// A client whose requests give up after `timeout` (connecting: at most 5 s).
    pub fn new(timeout: Duration) -> anyhow::Result<Https> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("stsform/", env!("CARGO_PKG_VERSION"), " (verify)"))
            .build()?;
        Ok(Https { client })
    }

    /// The body of `url`, which must answer 200 with at most 1 MiB of UTF-8.
    pub async fn get(&self, url: &str) -> Result<String, String> {
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {}", chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(format!("GET {url}: larger than {MAX_BODY} bytes"));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {}", chain(&e)))?;
        if bytes.len() > MAX_BODY {
            return Err(format!("GET {url}: larger than {MAX_BODY} bytes"));
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("GET {url}: not UTF-8 text"))
    }
}

/// An error and its sources on one line (reqwest's own text omits the cause).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The bucket behind an S3-hosted issuer (`https://<bucket>.s3.<region>.<suffix>`).
pub fn bucket_of(issuer: &str) -> Option<String> {
    let host = issuer.strip_prefix("https://")?;
    if host.contains('/') {
        return None;
    }
    let at = host.find(".s3.").or_else(|| host.find(".s3-"))?;
    Some(host[..at].to_string())
}

/// Reads `<issuer>/<key>` the way `documents` says. Through the emulator the object is
/// read from `bucket` (a private issuer's, behind its distribution) or else from the
/// bucket the issuer URL names.
pub async fn document<P: Provider>(
    documents: &Documents,
    provider: &P,
    issuer: &str,
    bucket: Option<&str>,
    key: &str,
) -> Result<String, String> {
    match documents {
        Documents::Https(https) => https.get(&format!("{issuer}/{key}")).await,
        Documents::Provider => {
            let bucket = bucket
                .map(str::to_string)
                .or_else(|| bucket_of(issuer))
                .ok_or_else(|| {
                    format!(
                        "{issuer} is not an S3 bucket URL, so it cannot be read through the emulator"
                    )
                })?;
            let recorded = ObjectSpec {
                bucket: bucket.clone(),
                key: key.to_string(),
                content_type: String::new(),
                tags: Default::default(),
                content: String::new(),
            };
            let id = ResourceId::new(ResourceKind::S3Object, format!("{bucket}/{key}"));
            match provider.read(&id, &Spec::S3Object(recorded)).await {
                Ok(Some(Spec::S3Object(object))) => Ok(object.content),
                Ok(_) => Err(format!("s3://{bucket}/{key} does not exist")),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-connection HTTP server on loopback answering `response`, or never answering.
    async fn serve(response: Option<&'static str>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            match response {
                Some(r) => {
                    let _ = socket.write_all(r.as_bytes()).await;
                }
                None => tokio::time::sleep(Duration::from_secs(30)).await,
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn get_returns_the_body_or_the_status() {
        let https = Https::new(Duration::from_secs(5)).unwrap();
        let url = serve(Some(
            "HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\n{\"a\":1}",
        ))
        .await;
        assert_eq!(
            https.get(&format!("{url}/keys.json")).await.unwrap(),
            "{\"a\":1}"
        );
        let url = serve(Some(
            "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ))
        .await;
        let err = https.get(&format!("{url}/keys.json")).await.unwrap_err();
        assert!(err.ends_with("HTTP 403 Forbidden"), "{err}");
    }

    #[tokio::test]
    async fn a_silent_issuer_times_out_instead_of_hanging() {
        let https = Https::new(Duration::from_millis(300)).unwrap();
        let url = serve(None).await;
        let started = std::time::Instant::now();
        let err = https.get(&format!("{url}/keys.json")).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{err}");
        assert!(
            err.contains("timed out") || err.contains("timeout"),
            "{err}"
        );
    }

    #[test]
    fn buckets_come_from_s3_issuer_urls_only() {
        assert_eq!(
            bucket_of("https://c1-oidc.s3.us-east-2.amazonaws.com").as_deref(),
            Some("c1-oidc")
        );
        assert_eq!(
            bucket_of("https://a.b-oidc.s3.cn-north-1.amazonaws.com.cn").as_deref(),
            Some("a.b-oidc")
        );
        assert_eq!(bucket_of("https://d111.cloudfront.net"), None);
        assert_eq!(bucket_of("https://c1-oidc.s3.amazonaws.com/path"), None);
    }
}
