//! Where a Milvus index lives: `milvus://HOST:PORT/COLLECTION` (`milvuss://` for TLS),
//! accepted wherever an index path is, and the credentials to reach it.

use std::fmt;
use std::path::Path;

/// The port Milvus listens on unless told otherwise.
const DEFAULT_PORT: u16 = 19530;

/// The environment variable holding the Milvus token (`user:password`, or an API key). It is
/// read when connecting and never logged or printed.
pub const TOKEN_VARIABLE: &str = "PRECEDENT_MILVUS_TOKEN";

/// A parsed `milvus://` location.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MilvusLocation {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The collection of entries; the catalog (documents, sentences, metadata) is beside it.
    pub collection: String,
}

impl MilvusLocation {
    /// `None` when `text` is not a Milvus location at all (an index file path); an error
    /// when it is one but malformed.
    pub fn parse(text: &str) -> Option<Result<MilvusLocation, String>> {
        let (tls, rest) = if let Some(rest) = text.strip_prefix("milvuss://") {
            (true, rest)
        } else {
            (false, text.strip_prefix("milvus://")?)
        };
        Some(parse_rest(tls, rest).map_err(|problem| {
            format!(
                "{}: {problem} (expected milvus://HOST:PORT/COLLECTION, or milvuss:// for TLS)",
                redact_credentials(text)
            )
        }))
    }

    /// As [`parse`](Self::parse), for an index given as a path.
    pub fn from_path(path: &Path) -> Option<Result<MilvusLocation, String>> {
        MilvusLocation::parse(path.to_str()?)
    }

    /// The gRPC endpoint the SDK connects to.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// The collection holding each document's sentences and the index metadata.
    pub fn catalog_collection(&self) -> String {
        format!("{}_catalog", self.collection)
    }
}

/// `text` without the user information of a URL (`scheme://user:password@…`): for messages
/// about a location that was written with credentials in it, which are never repeated.
pub fn redact_credentials(text: &str) -> String {
    match (text.find("://"), text.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}…{}", &text[..scheme_end + 3], &text[at..])
        }
        _ => text.to_string(),
    }
}

fn parse_rest(tls: bool, rest: &str) -> Result<MilvusLocation, String> {
    let (authority, collection) = rest.split_once('/').ok_or("no collection after the host")?;
    if authority.contains('@') {
        return Err(format!(
            "credentials do not go in the location; set {TOKEN_VARIABLE} instead"
        ));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .map_err(|_| format!("{port:?} is not a port number"))?,
        ),
        None => (authority, DEFAULT_PORT),
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    // Milvus collection names: a letter or underscore, then letters, digits, underscores.
    let valid = collection
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && collection
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && collection.len() <= 200;
    if !valid {
        return Err(format!(
            "{collection:?} is not a collection name (a letter or _, then letters, digits or _)"
        ));
    }
    Ok(MilvusLocation {
        tls,
        host: host.to_string(),
        port,
        collection: collection.to_string(),
    })
}

impl fmt::Display for MilvusLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "milvuss" } else { "milvus" };
        write!(
            f,
            "{scheme}://{}:{}/{}",
            self.host, self.port, self.collection
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_as_written() {
        // (text, None when not a Milvus location, else the host, port, collection and TLS, or
        // a part of the refusal)
        type Expected = Option<Result<(&'static str, u16, &'static str, bool), &'static str>>;
        let cases: &[(&str, Expected)] = &[
            ("team.index", None),
            ("/srv/team.index", None),
            (
                "milvus://127.0.0.1:19531/house",
                Some(Ok(("127.0.0.1", 19531, "house", false))),
            ),
            (
                "milvus://db.example.com/house_style",
                Some(Ok(("db.example.com", 19530, "house_style", false))),
            ),
            (
                "milvuss://db.example.com:443/_x1",
                Some(Ok(("db.example.com", 443, "_x1", true))),
            ),
            (
                "milvus://host:port/house",
                Some(Err("is not a port number")),
            ),
            ("milvus://host:19530", Some(Err("no collection"))),
            (
                "milvus://host:19530/1house",
                Some(Err("is not a collection name")),
            ),
            (
                "milvus://host:19530/house-style",
                Some(Err("is not a collection name")),
            ),
            (
                "milvus://user:secret@host:19530/house",
                Some(Err("credentials do not go in the location")),
            ),
            ("milvus://:19530/house", Some(Err("no host"))),
        ];
        for (text, expected) in cases {
            let parsed = MilvusLocation::parse(text);
            match (parsed, expected) {
                (None, None) => {}
                (Some(Ok(location)), Some(Ok((host, port, collection, tls)))) => {
                    assert_eq!(
                        (
                            location.host.as_str(),
                            location.port,
                            location.collection.as_str(),
                            location.tls
                        ),
                        (*host, *port, *collection, *tls),
                        "{text}"
                    );
                    assert_eq!(
                        MilvusLocation::parse(&location.to_string()),
                        Some(Ok(location))
                    );
                }
                (Some(Err(message)), Some(Err(part))) => {
                    assert!(message.contains(part), "{text}: {message}");
                    assert!(
                        !message.contains("secret"),
                        "a password is never repeated: {message}"
                    );
                }
                (parsed, expected) => panic!("{text}: got {parsed:?}, expected {expected:?}"),
            }
        }
    }
}
