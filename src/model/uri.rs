//! Model URIs, in the four schemes of the ModelService chart: `hf://org/model`,
//! `pvc://claim/path`, `pvc+hf://claim/cache/path/org/model` and `oci://reference`.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelUri {
    /// Downloaded by vLLM at start into an `emptyDir`.
    Hf { repo: String },
    /// Files on a claim; `path` is relative to the claim's root (empty: the root itself).
    Pvc { claim: String, path: String },
    /// A Hugging Face hub cache on a claim: `cache` is the cache directory inside the claim, `repo`
    /// the model inside it.
    PvcHf { claim: String, cache: String, repo: String },
    /// An OCI image mounted as a volume.
    Oci { reference: String },
}

#[derive(Debug, PartialEq, Eq)]
pub struct UriError {
    pub message: String,
    pub help: String,
}

fn err(message: impl Into<String>, help: impl Into<String>) -> UriError {
    UriError { message: message.into(), help: help.into() }
}

impl ModelUri {
    pub const SCHEMES: [&'static str; 4] = ["hf", "pvc", "pvc+hf", "oci"];

    pub fn parse(s: &str) -> Result<ModelUri, UriError> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(err(
                format!("`{s}` is not a model URI"),
                "write `hf://org/model`, `pvc://claim/path`, `pvc+hf://claim/cache/org/model` or `oci://image`",
            ));
        };
        match scheme {
            "hf" => {
                let parts: Vec<&str> = rest.split('/').collect();
                if rest.is_empty() || parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
                    return Err(err(format!("`{s}` is not a Hugging Face repository"), "write `hf://org/model`"));
                }
                Ok(ModelUri::Hf { repo: rest.to_string() })
            }
            "pvc" => {
                let (claim, path) = rest.split_once('/').unwrap_or((rest, ""));
                if claim.is_empty() {
                    return Err(err(format!("`{s}` names no claim"), "write `pvc://claim/path/to/model`"));
                }
                Ok(ModelUri::Pvc { claim: claim.to_string(), path: path.trim_end_matches('/').to_string() })
            }
            "pvc+hf" => {
                let parts: Vec<&str> = rest.split('/').collect();
                if parts.len() < 3 || parts.iter().any(|p| p.is_empty()) {
                    return Err(err(
                        format!("`{s}` needs a claim, an optional cache path, and `org/model`"),
                        "write `pvc+hf://claim/path/to/hf_hub_cache/org/model`",
                    ));
                }
                let n = parts.len();
                Ok(ModelUri::PvcHf {
                    claim: parts[0].to_string(),
                    cache: parts[1..n - 2].join("/"),
                    repo: format!("{}/{}", parts[n - 2], parts[n - 1]),
                })
            }
            "oci" => {
                if rest.is_empty() {
                    return Err(err(format!("`{s}` names no image"), "write `oci://registry/repository:tag`"));
                }
                Ok(ModelUri::Oci { reference: rest.to_string() })
            }
            other => {
                let help = match crate::diag::did_you_mean(other, ModelUri::SCHEMES) {
                    Some(s) => format!("did you mean `{s}://`? msws knows hf://, pvc://, pvc+hf:// and oci://"),
                    None => "msws knows hf://, pvc://, pvc+hf:// and oci://".to_string(),
                };
                Err(err(format!("unknown model URI scheme `{other}://`"), help))
            }
        }
    }

    /// The claim a URI reads from, if any.
    pub fn claim(&self) -> Option<&str> {
        match self {
            ModelUri::Pvc { claim, .. } | ModelUri::PvcHf { claim, .. } => Some(claim),
            _ => None,
        }
    }

    /// The path inside the claim the model is read from.
    pub fn claim_path(&self) -> Option<String> {
        match self {
            ModelUri::Pvc { path, .. } => Some(path.clone()),
            ModelUri::PvcHf { cache, .. } => Some(cache.clone()),
            _ => None,
        }
    }
}

impl fmt::Display for ModelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelUri::Hf { repo } => write!(f, "hf://{repo}"),
            ModelUri::Pvc { claim, path } if path.is_empty() => write!(f, "pvc://{claim}"),
            ModelUri::Pvc { claim, path } => write!(f, "pvc://{claim}/{path}"),
            ModelUri::PvcHf { claim, cache, repo } if cache.is_empty() => write!(f, "pvc+hf://{claim}/{repo}"),
            ModelUri::PvcHf { claim, cache, repo } => write!(f, "pvc+hf://{claim}/{cache}/{repo}"),
            ModelUri::Oci { reference } => write!(f, "oci://{reference}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_schemes_and_round_trips() {
        for s in [
            "hf://facebook/opt-125m",
            "hf://gpt2",
            "pvc://model-pvc/models/opt-125m",
            "pvc://model-pvc",
            "pvc+hf://pvc-name/path/to/hf_hub_cache/facebook/opt-125m",
            "pvc+hf://model-pvc/meta-llama/Llama-3.1-8B-Instruct",
            "oci://quay.io/models/opt:1",
        ] {
            assert_eq!(ModelUri::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            ModelUri::parse("pvc+hf://c/a/b/org/m").unwrap(),
            ModelUri::PvcHf { claim: "c".into(), cache: "a/b".into(), repo: "org/m".into() }
        );
    }

    #[test]
    fn rejects_malformed() {
        for s in ["facebook/opt", "hf://", "hf://a/b/c", "pvc:///x", "pvc+hf://c/m", "oci://", "s3://b/k"] {
            assert!(ModelUri::parse(s).is_err(), "{s}");
        }
        assert!(ModelUri::parse("pcv://c/p").unwrap_err().help.contains("pvc://"));
    }
}
