//! The registry binds each declaration to exactly one handler, by method name.
//!
//! It refuses to build (and so the server refuses to start) when a declaration has no
//! handler, a handler has no declaration, a method is declared twice, the declared types
//! are not the handler's types, or a rate-limit class is not configured. Each message
//! names the method, so the fix is obvious.

use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::spec::ActionSpec;
use crate::call::Handler;
use crate::call::action::typed_params;
use crate::error::{RpcError, RpcResult};

/// A declaration with its handler and its compiled input schema.
pub struct BoundAction {
    pub spec: ActionSpec,
    pub handler: Box<dyn Handler>,
    pub params_schema: Value,
    pub result_schema: Value,
    validator: jsonschema::Validator,
}

pub struct Registry {
    actions: BTreeMap<String, BoundAction>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("method `{0}` is declared in actions/ but no handler is bound to it")]
    NoHandler(String),
    #[error("handler `{0}` has no declaration in actions/")]
    NoDeclaration(String),
    #[error("method `{0}` is declared more than once")]
    DuplicateDeclaration(String),
    #[error("method `{0}` has more than one handler")]
    DuplicateHandler(String),
    #[error("method `{method}`: declared {which} type `{declared}` but the handler uses `{actual}`")]
    TypeMismatch { method: String, which: &'static str, declared: String, actual: String },
    #[error("method `{method}`: rate-limit class `{class}` is not configured in [rate_limits]")]
    UnknownRateLimit { method: String, class: String },
    #[error("method `{method}`: params schema does not compile: {reason}")]
    BadSchema { method: String, reason: String },
}

impl Registry {
    /// Binds `handlers` to `specs`; `rate_limit_classes` are the configured classes.
    pub fn bind<'a>(
        specs: Vec<ActionSpec>,
        handlers: Vec<Box<dyn Handler>>,
        rate_limit_classes: impl IntoIterator<Item = &'a String>,
    ) -> Result<Registry, RegistryError> {
        let classes: Vec<&String> = rate_limit_classes.into_iter().collect();
        let mut by_method: HashMap<&'static str, Box<dyn Handler>> = HashMap::new();
        for handler in handlers {
            let method = handler.method();
            if by_method.insert(method, handler).is_some() {
                return Err(RegistryError::DuplicateHandler(method.to_owned()));
            }
        }
        let mut actions = BTreeMap::new();
        for spec in specs {
            if actions.contains_key(&spec.method) {
                return Err(RegistryError::DuplicateDeclaration(spec.method));
            }
            let handler =
                by_method.remove(spec.method.as_str()).ok_or_else(|| RegistryError::NoHandler(spec.method.clone()))?;
            for (which, declared, actual) in
                [("params", &spec.params, handler.params_type()), ("result", &spec.result, handler.result_type())]
            {
                if *declared != actual {
                    return Err(RegistryError::TypeMismatch {
                        method: spec.method.clone(),
                        which,
                        declared: declared.clone(),
                        actual,
                    });
                }
            }
            if !classes.contains(&&spec.rate_limit) {
                return Err(RegistryError::UnknownRateLimit {
                    method: spec.method.clone(),
                    class: spec.rate_limit.clone(),
                });
            }
            let params_schema = handler.params_schema();
            let result_schema = handler.result_schema();
            // Formats are checked too: a `date-time` must be RFC 3339 (four-digit years).
            let validator = jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&params_schema)
                .map_err(|e| RegistryError::BadSchema { method: spec.method.clone(), reason: e.to_string() })?;
            actions.insert(spec.method.clone(), BoundAction { spec, handler, params_schema, result_schema, validator });
        }
        if let Some(method) = by_method.keys().min() {
            return Err(RegistryError::NoDeclaration((*method).to_owned()));
        }
        Ok(Registry { actions })
    }

    pub fn get(&self, method: &str) -> Option<&BoundAction> {
        self.actions.get(method)
    }

    /// Every bound action, ordered by method name.
    pub fn iter(&self) -> impl Iterator<Item = &BoundAction> {
        self.actions.values()
    }
}

impl BoundAction {
    /// Params checked against the method's schema, as the handler's type: what the
    /// pipeline does before a handler runs, for the command line's changes.
    pub fn params<P: DeserializeOwned>(&self, params: Value) -> RpcResult<P> {
        self.validate(&params).map_err(RpcError::invalid_params)?;
        typed_params(params)
    }

    /// Checks params against the input schema; issues carry JSON-pointer paths.
    pub fn validate(&self, params: &Value) -> Result<(), Vec<Value>> {
        use jsonschema::error::ValidationErrorKind as Kind;
        let mut issues: Vec<Value> = Vec::new();
        for error in self.validator.iter_errors(params) {
            let at = error.instance_path.as_str();
            // A missing or unexpected property is reported at its own path, not its parent's.
            let (names, message): (Vec<&str>, &str) = match &error.kind {
                Kind::Required { property } => (property.as_str().into_iter().collect(), "is required"),
                Kind::AdditionalProperties { unexpected } => {
                    (unexpected.iter().map(String::as_str).collect(), "is not a known parameter")
                }
                // `additionalProperties: false` with no `properties` reports only the parent.
                Kind::FalseSchema if error.schema_path.as_str().ends_with("/additionalProperties") => {
                    let keys = params.pointer(at).and_then(Value::as_object);
                    (keys.into_iter().flat_map(|o| o.keys().map(String::as_str)).collect(), "is not a known parameter")
                }
                _ => (Vec::new(), ""),
            };
            if names.is_empty() {
                issues.push(json!({ "path": at, "message": error.to_string() }));
            }
            for name in names {
                let path = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
                issues.push(json!({ "path": path, "message": message }));
            }
        }
        if issues.is_empty() {
            return Ok(());
        }
        issues.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        Err(issues)
    }
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::call::{Action, Ctx};
    use crate::rpc::spec::parse_file;

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct PingParams {
        #[allow(dead_code)]
        n: u32,
    }
    #[derive(Serialize, JsonSchema)]
    struct PingResult {}

    struct Ping;
    impl Action for Ping {
        const METHOD: &'static str = "ping";
        type Params = PingParams;
        type Output = PingResult;
        async fn run(&self, _ctx: &mut Ctx, _params: PingParams) -> RpcResult<PingResult> {
            Ok(PingResult {})
        }
    }

    fn spec(method: &str, class: &str) -> Vec<ActionSpec> {
        let text = format!(
            "[[action]]\nmethod = \"{method}\"\ndescription = \"d\"\nauth = \"public\"\nside_effects = false\nparams = \"PingParams\"\nresult = \"PingResult\"\nrate_limit = \"{class}\"\n"
        );
        parse_file("test.toml", &text).unwrap()
    }

    fn classes() -> Vec<String> {
        vec!["read".to_owned()]
    }

    #[test]
    fn binds_a_matching_pair() {
        let registry = Registry::bind(spec("ping", "read"), vec![Box::new(Ping)], &classes()).unwrap();
        assert!(registry.get("ping").is_some());
    }

    #[test]
    fn refuses_a_declaration_without_handler() {
        let err = Registry::bind(spec("pong", "read"), vec![], &classes()).err().unwrap();
        assert_eq!(err, RegistryError::NoHandler("pong".into()));
        assert!(err.to_string().contains("`pong`"));
    }

    #[test]
    fn refuses_a_handler_without_declaration() {
        let err = Registry::bind(vec![], vec![Box::new(Ping)], &classes()).err().unwrap();
        assert_eq!(err, RegistryError::NoDeclaration("ping".into()));
        assert!(err.to_string().contains("`ping`"));
    }

    #[test]
    fn refuses_duplicates_mismatched_types_and_unknown_classes() {
        let mut twice = spec("ping", "read");
        twice.extend(spec("ping", "read"));
        let err = Registry::bind(twice, vec![Box::new(Ping)], &classes()).err().unwrap();
        assert_eq!(err, RegistryError::DuplicateDeclaration("ping".into()));

        let mut wrong = spec("ping", "read");
        wrong[0].params = "Other".into();
        let err = Registry::bind(wrong, vec![Box::new(Ping)], &classes()).err().unwrap();
        assert!(matches!(err, RegistryError::TypeMismatch { which: "params", .. }), "{err}");

        let err = Registry::bind(spec("ping", "bulk"), vec![Box::new(Ping)], &classes()).err().unwrap();
        assert!(matches!(err, RegistryError::UnknownRateLimit { .. }), "{err}");
    }

    #[test]
    fn validation_issues_use_json_pointers() {
        let registry = Registry::bind(spec("ping", "read"), vec![Box::new(Ping)], &classes()).unwrap();
        let ping = registry.get("ping").unwrap();
        assert!(ping.validate(&json!({"n": 1})).is_ok());
        let issues = ping.validate(&json!({})).unwrap_err();
        assert_eq!(issues[0]["path"], "/n");
        let issues = ping.validate(&json!({"n": "x", "extra": 1})).unwrap_err();
        let paths: Vec<&str> = issues.iter().map(|i| i["path"].as_str().unwrap()).collect();
        assert!(paths.contains(&"/n") && paths.contains(&"/extra"), "{issues:?}");
    }
}
