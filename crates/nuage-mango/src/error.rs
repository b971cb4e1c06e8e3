//! The one error type of the crate, and the face it shows over HTTP.
//!
//! Every variant answers with the `error` token and status that CouchDB 3.x's
//! Mango uses for the same mistake, so clients that branch on `error` keep
//! working; the HTTP layer must map through [`MangoError::error`],
//! [`MangoError::reason`] and [`MangoError::status`] and invent nothing.
//! Reasons follow CouchDB's wording but quote arguments as JSON, where CouchDB
//! prints Erlang terms, and sometimes add a hint.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MangoError {
    /// The `_find` or `_index` body is not a JSON object.
    #[error("Request body must be a JSON object")]
    BodyNotObject,
    #[error("Missing required key: {0}")]
    MissingRequiredKey(String),
    #[error("Invalid key {0} for this request.")]
    InvalidKey(String),
    #[error("Selector must be a JSON object, not: {0}")]
    SelectorNotObject(String),
    #[error("Invalid operator: {0}")]
    InvalidOperator(String),
    /// Operators CouchDB knows but does not run (`$where`, `$near`…) and
    /// `$text`, which needs a full-text index this server does not have.
    #[error("Unsupported operator: {0}")]
    UnsupportedOperator(String),
    #[error("Bad argument for operator {operator}: {argument} ({expected})")]
    BadArg {
        operator: String,
        argument: String,
        expected: &'static str,
    },
    #[error("One or more conditions is missing a field name.")]
    MissingFieldName,
    #[error("{0} is not an integer greater than or equal to zero")]
    NotNonNegInteger(String),
    #[error("{0} is not an integer greater than zero")]
    NotPosInteger(String),
    #[error("Invalid boolean value: {0}")]
    NotBoolean(String),
    #[error("Invalid string: {0}")]
    NotString(String),
    #[error("Invalid value for {name}: {value}")]
    InvalidValue { name: &'static str, value: String },
    #[error("Invalid index name: {0}")]
    InvalidIndexName(String),
    #[error("Invalid bookmark value: {0}")]
    InvalidBookmark(String),
    #[error("Sort must be an array of sort specs, not: {0}")]
    SortNotArray(String),
    #[error("Invalid sort field: {0} (use \"field\" or {{\"field\": \"asc\" | \"desc\"}})")]
    InvalidSortField(String),
    #[error("Sorts currently only support a single direction for all fields.")]
    MixedSort,
    #[error("Fields must be an array of strings, not: {0}")]
    FieldsNotArray(String),
    #[error("Invalid JSON for field spec: {0}")]
    InvalidField(String),
    #[error("No index exists for this sort, try indexing by the sort fields.")]
    NoIndexForSort,
    /// No index may serve the query and `allow_fallback` is false.
    #[error("{0}")]
    NoUsableIndex(&'static str),
    #[error("JSON indexes must be an object, not: {0}")]
    IndexNotObject(String),
    #[error("Index fields must be a non-empty array of field names")]
    EmptyIndexFields,
    #[error("Invalid type for index: {0}")]
    InvalidIndexType(String),
    /// `"type": "text"` or `"nouveau"`: full-text indexes need a search
    /// service this server does not run.
    #[error(
        "{0} indexes need a full-text search service, which this server does not run; create a \"json\" index instead"
    )]
    IndexServiceUnavailable(String),
    /// A selector beyond the bounds of `selector::bounds`: the reason says
    /// which bound and what to do instead.
    #[error("Selector too large: {0}")]
    SelectorTooLarge(String),
    #[error(
        "Regular expression too large once compiled: {0:?}; use smaller repetition counts, or (?-u) for ASCII-only classes such as \\w"
    )]
    RegexTooLarge(String),
    /// A `_find` read more rows than one request may without filling its
    /// page (nuage's bound; CouchDB has none).
    #[error(
        "This query examined more than {0} documents that this credential may read without filling its page; create an index on the selector's fields (POST _index) or narrow the selector. A partial answer is not given, since clients take a short page for the end of the results."
    )]
    TooManyExamined(usize),
    /// A `_find` ran past its time budget (seconds) before filling its
    /// page. CouchDB answers a request that takes too long with 500
    /// `timeout` (chttpd `error_info(timeout)`); so does this.
    #[error(
        "This query ran past its budget of {0} s without filling its page; add an index on the fields you select on (POST _index), or narrow the selector."
    )]
    Timeout(u64),
    /// An index definition beyond the bounds of `index.rs`.
    #[error("Index too large: {0}")]
    IndexTooLarge(String),
}

impl MangoError {
    /// The `error` member of the CouchDB error body.
    pub fn error(&self) -> &'static str {
        use MangoError::*;
        match self {
            BodyNotObject | SelectorTooLarge(_) | RegexTooLarge(_) | TooManyExamined(_) => {
                "bad_request"
            }
            MissingRequiredKey(_) => "missing_required_key",
            InvalidKey(_) => "invalid_key",
            SelectorNotObject(_) => "invalid_selector_json",
            InvalidOperator(_) => "invalid_operator",
            UnsupportedOperator(_) => "not_supported",
            BadArg { .. } => "bad_arg",
            MissingFieldName => "invalid_selector",
            NotNonNegInteger(_) => "invalid_non_neg_integer",
            NotPosInteger(_) => "invalid_pos_integer",
            NotBoolean(_) => "invalid_boolean",
            NotString(_) => "invalid_string",
            InvalidValue { .. } => "invalid_value",
            InvalidIndexName(_) => "invalid_index_name",
            InvalidBookmark(_) => "invalid_bookmark",
            SortNotArray(_) => "invalid_sort_json",
            InvalidSortField(_) => "invalid_sort_field",
            MixedSort => "unsupported_mixed_sort",
            FieldsNotArray(_) => "invalid_fields",
            InvalidField(_) => "invalid_field",
            NoIndexForSort | NoUsableIndex(_) => "no_usable_index",
            IndexNotObject(_) | EmptyIndexFields | InvalidIndexType(_) | IndexTooLarge(_) => {
                "invalid_index"
            }
            Timeout(_) => "timeout",
            // CouchDB's token really has spaces in it.
            IndexServiceUnavailable(_) => "required index service unavailable",
        }
    }

    /// The `reason` member of the CouchDB error body.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// The HTTP status: 400 for everything the client can fix, 503 where
    /// CouchDB says a full-text service is missing.
    pub fn status(&self) -> u16 {
        match self {
            MangoError::IndexServiceUnavailable(_) => 503,
            MangoError::Timeout(_) => 500,
            _ => 400,
        }
    }
}

/// A JSON value as it appears in a reason.
pub(crate) fn json(value: &Value) -> String {
    value.to_string()
}

pub(crate) fn bad_arg(operator: &str, argument: &Value, expected: &'static str) -> MangoError {
    MangoError::BadArg {
        operator: operator.to_owned(),
        argument: json(argument),
        expected,
    }
}
