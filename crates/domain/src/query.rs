//! The list query language shared by every collection route (SPEC §3):
//! `page`, `page_size`, `sort=a,-b`, `search=text`, `field=value`,
//! `field__in=a,b`, `field__gt|gte|lt|lte=value`, `field__contains=text`.
//!
//! Each resource declares its fields once as a table of [`FieldSpec`]s over
//! its own field enum. Parsing happens here, against that whitelist, so a
//! storage adapter only ever sees typed [`Filter`]s and [`Sort`]s over enum
//! values; it never turns client text into a column name.

use chrono::{DateTime, Datelike, Timelike, Utc};
use uuid::Uuid;

use crate::error::FieldError;

/// The type of a field, which decides the operators and how values parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text: `eq`, `in`, `contains`.
    Text,
    /// Whole number: `eq`, `in`, `gt`, `gte`, `lt`, `lte`.
    Integer,
    /// `true` / `false`: `eq`, `in`.
    Bool,
    /// RFC 3339 instant: `eq`, `in`, `gt`, `gte`, `lt`, `lte`.
    Timestamp,
    /// UUID: `eq`, `in`.
    Uuid,
    /// One of a fixed set of strings: `eq`, `in`.
    Enum(&'static [&'static str]),
}

/// A comparison operator of the query language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `field=value`
    Eq,
    /// `field__in=a,b`
    In,
    /// `field__gt=value`
    Gt,
    /// `field__gte=value`
    Gte,
    /// `field__lt=value`
    Lt,
    /// `field__lte=value`
    Lte,
    /// `field__contains=text` (case-insensitive substring)
    Contains,
}

impl Op {
    fn from_suffix(s: &str) -> Option<Self> {
        Some(match s {
            "in" => Op::In,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "contains" => Op::Contains,
            _ => return None,
        })
    }

    /// The suffix as written in a query string (`""` for equality).
    pub fn suffix(self) -> &'static str {
        match self {
            Op::Eq => "",
            Op::In => "__in",
            Op::Gt => "__gt",
            Op::Gte => "__gte",
            Op::Lt => "__lt",
            Op::Lte => "__lte",
            Op::Contains => "__contains",
        }
    }
}

impl FieldKind {
    /// The operators this kind of field supports.
    pub fn operators(self) -> &'static [Op] {
        match self {
            FieldKind::Text => &[Op::Eq, Op::In, Op::Contains],
            FieldKind::Integer | FieldKind::Timestamp => &[Op::Eq, Op::In, Op::Gt, Op::Gte, Op::Lt, Op::Lte],
            FieldKind::Bool => &[Op::Eq, Op::In],
            FieldKind::Uuid | FieldKind::Enum(_) => &[Op::Eq, Op::In],
        }
    }

    fn parse_value(self, raw: &str) -> Result<Value, String> {
        match self {
            // No stored text is empty: `name=` could match nothing, and
            // `name__contains=` everything, neither what was meant.
            FieldKind::Text if raw.is_empty() => Err("must not be empty".to_owned()),
            FieldKind::Text => check_text(raw).map(|()| Value::Text(raw.to_owned())),
            FieldKind::Integer => raw.parse().map(Value::Int).map_err(|_| "must be an integer".to_owned()),
            FieldKind::Bool => match raw {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err("must be true or false".to_owned()),
            },
            FieldKind::Timestamp => {
                let t = DateTime::parse_from_rfc3339(raw)
                    .map_err(|_| "must be an RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z".to_owned())?;
                // Times are stored to the microsecond. A finer bound would be
                // cut to it by PostgreSQL and compared whole by SQLite: the
                // two engines would answer differently.
                if t.nanosecond() % 1_000 != 0 {
                    return Err("must be precise to the microsecond at most (6 decimal places)".to_owned());
                }
                // SQLite compares times as text, which orders them only
                // within four-digit years: 9999-12-31T23:30:00-01:00 is
                // +10000-… in UTC, and would sort before every stored time.
                let t = t.with_timezone(&Utc);
                if !(1..=9999).contains(&t.year()) {
                    return Err("must fall between the years 0001 and 9999 in UTC".to_owned());
                }
                Ok(Value::Timestamp(t))
            }
            FieldKind::Uuid => Uuid::parse_str(raw).map(Value::Uuid).map_err(|_| "must be a UUID".to_owned()),
            FieldKind::Enum(allowed) => allowed
                .iter()
                .find(|name| **name == raw)
                .map(|name| Value::Enum(name))
                .ok_or_else(|| format!("must be one of: {}", allowed.join(", "))),
        }
    }
}

/// One field of a resource as the query language sees it.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec<F> {
    /// The name clients use.
    pub name: &'static str,
    /// The resource's own identifier of the field.
    pub field: F,
    /// Its type.
    pub kind: FieldKind,
    /// May appear in `field=value` filters.
    pub filterable: bool,
    /// May appear in `sort`.
    pub sortable: bool,
    /// Is matched by `search`.
    pub searchable: bool,
}

/// A resource that can be listed: its field enum and the whitelist over it.
pub trait Resource {
    /// The resource's field identifiers (a plain enum).
    type Field: Copy + Eq + std::fmt::Debug + Send + Sync + 'static;
    /// Every field clients may name, once.
    const FIELDS: &'static [FieldSpec<Self::Field>];
    /// The creation-time field, used for the default sort (newest first).
    const CREATED_AT: Self::Field;
    /// What `search` matches besides the searchable fields, in words for the
    /// API's documentation (e.g. an order's lines); `None`: the fields alone.
    const SEARCHED_BEYOND: Option<&'static str> = None;
}

/// A typed filter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// One of an enum field's names, taken from its whitelist
    /// ([`FieldKind::Enum`]), so never the client's own text.
    Enum(&'static str),
    /// Whole number.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// Instant.
    Timestamp(DateTime<Utc>),
    /// UUID.
    Uuid(Uuid),
}

/// One `field[__op]=value` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter<F> {
    /// The field.
    pub field: F,
    /// The operator.
    pub op: Op,
    /// One value, or several for [`Op::In`].
    pub values: Vec<Value>,
}

/// One sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<F> {
    /// The field.
    pub field: F,
    /// `true` for `-field`.
    pub descending: bool,
}

/// Default page size.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Largest page size a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;
/// Most values in one `__in` list.
pub const MAX_IN_VALUES: usize = 100;
/// Most parameters in one list request: far more than a real query takes
/// (paging, sort, search, and a filter per field and operator). Past it the
/// request is refused whole, unread: a public list must not spend CPU on,
/// nor answer with an error for each of, thousands of parameters.
pub const MAX_LIST_PARAMS: usize = 64;
/// Longest search term or text filter value.
pub const MAX_TEXT_VALUE_CHARS: usize = 200;

/// A parsed, validated list request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery<F> {
    /// All conditions, combined with AND.
    pub filters: Vec<Filter<F>>,
    /// Case-insensitive substring over the searchable fields (OR).
    pub search: Option<String>,
    /// Sort keys in order; never empty (defaults to newest first).
    pub sort: Vec<Sort<F>>,
    /// 1-based page number.
    pub page: u64,
    /// Items per page, 1..=100.
    pub page_size: u64,
}

impl<F: Copy> ListQuery<F> {
    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.page_size)
    }

    /// This query's page: `items`, of `total` matching, read without a
    /// version (set [`Page::version`] where the store keeps one).
    pub fn page_of<T>(&self, items: Vec<T>, total: u64) -> Page<T> {
        Page { items, total, page: self.page, page_size: self.page_size, version: None }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Items matching the filters, over all pages.
    pub total: u64,
    /// This page's number.
    pub page: u64,
    /// The requested page size.
    pub page_size: u64,
    /// The version of the list's rows the page was read at, where the
    /// store keeps one (a value that changes with every committed write to
    /// those rows): the same query answered at the same version is the same
    /// page, so what was made of it may be reused. `None`: no version.
    pub version: Option<i64>,
}

impl<T> Page<T> {
    /// Number of pages (0 when nothing matched).
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(self.page_size.max(1))
    }

    /// Converts every item, keeping the counts.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            page: self.page,
            page_size: self.page_size,
            version: self.version,
        }
    }
}

/// Parses query-string pairs against the whitelist of resource `R`.
///
/// # Errors
/// Every parameter that is unknown, not allowed, repeated or of the wrong
/// type, each named in a [`FieldError`].
pub fn parse_list_query<R: Resource>(params: &[(String, String)]) -> Result<ListQuery<R::Field>, Vec<FieldError>> {
    if params.len() > MAX_LIST_PARAMS {
        let message = format!("has {} parameters; a list takes at most {MAX_LIST_PARAMS}", params.len());
        return Err(vec![FieldError::new("query", message)]);
    }
    let mut errors = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut query =
        ListQuery { filters: Vec::new(), search: None, sort: Vec::new(), page: 1, page_size: DEFAULT_PAGE_SIZE };
    for (key, raw) in params {
        if seen.contains(&key.as_str()) {
            errors.push(FieldError::new(key, "may appear only once (use field__in=a,b for several values)"));
            continue;
        }
        seen.push(key);
        let result = match key.as_str() {
            "page" => parse_bounded(raw, 1, u64::from(u32::MAX)).map(|n| query.page = n),
            "page_size" => parse_bounded(raw, 1, MAX_PAGE_SIZE).map(|n| query.page_size = n),
            "search" if R::FIELDS.iter().any(|f| f.searchable) => parse_search(raw).map(|s| query.search = s),
            // Never ignored: with no text field to look in, a search could only match nothing.
            "search" => Err("is not supported here: this list has no text fields to search".to_owned()),
            "sort" => parse_sort::<R>(raw).map(|s| query.sort = s),
            _ => parse_filter::<R>(key, raw).map(|f| query.filters.push(f)),
        };
        if let Err(message) = result {
            errors.push(FieldError::new(key, message));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if query.sort.is_empty() {
        query.sort.push(Sort { field: R::CREATED_AT, descending: true });
    }
    Ok(query)
}

fn parse_bounded(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("must be an integer from {min} to {max}")),
    }
}

/// Text values are bounded and free of control characters (which no stored
/// text contains, and which some databases refuse outright, e.g. NUL).
fn check_text(raw: &str) -> Result<(), String> {
    if raw.chars().count() > MAX_TEXT_VALUE_CHARS {
        Err(format!("must be at most {MAX_TEXT_VALUE_CHARS} characters"))
    } else if raw.chars().any(char::is_control) {
        Err("must not contain control characters".to_owned())
    } else {
        Ok(())
    }
}

fn parse_search(raw: &str) -> Result<Option<String>, String> {
    let term = raw.trim();
    check_text(term)?;
    Ok(if term.is_empty() { None } else { Some(term.to_owned()) })
}

fn lookup<R: Resource>(name: &str) -> Option<&'static FieldSpec<R::Field>> {
    R::FIELDS.iter().find(|f| f.name == name)
}

fn names<R: Resource>(pick: impl Fn(&FieldSpec<R::Field>) -> bool) -> String {
    R::FIELDS.iter().filter(|f| pick(f)).map(|f| f.name).collect::<Vec<_>>().join(", ")
}

fn parse_sort<R: Resource>(raw: &str) -> Result<Vec<Sort<R::Field>>, String> {
    let mut keys = Vec::new();
    for part in raw.split(',') {
        let (descending, name) = match part.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, part),
        };
        let spec = lookup::<R>(name)
            .filter(|s| s.sortable)
            .ok_or_else(|| format!("cannot sort by {name:?}; sortable fields: {}", names::<R>(|f| f.sortable)))?;
        if keys.iter().any(|k: &Sort<R::Field>| k.field == spec.field) {
            return Err(format!("sorts by {name:?} twice"));
        }
        keys.push(Sort { field: spec.field, descending });
    }
    Ok(keys)
}

fn parse_filter<R: Resource>(key: &str, raw: &str) -> Result<Filter<R::Field>, String> {
    let (name, op) = match key.split_once("__") {
        Some((name, suffix)) => (name, Op::from_suffix(suffix).ok_or_else(|| format!("unknown operator {suffix:?}"))?),
        None => (key, Op::Eq),
    };
    let spec = lookup::<R>(name).filter(|s| s.filterable).ok_or_else(|| {
        format!("unknown or non-filterable parameter; filterable fields: {}", names::<R>(|f| f.filterable))
    })?;
    if !spec.kind.operators().contains(&op) {
        let allowed: Vec<_> = spec.kind.operators().iter().map(|o| format!("{name}{}", o.suffix())).collect();
        return Err(format!("operator not supported for this field; use one of: {}", allowed.join(", ")));
    }
    let values = if op == Op::In {
        let parts: Vec<&str> = raw.split(',').collect();
        if parts.len() > MAX_IN_VALUES {
            return Err(format!("lists at most {MAX_IN_VALUES} values"));
        }
        parts.into_iter().map(|p| spec.kind.parse_value(p)).collect::<Result<Vec<_>, _>>()?
    } else {
        vec![spec.kind.parse_value(raw)?]
    };
    Ok(Filter { field: spec.field, op, values })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum F {
        Name,
        Price,
        Secret,
        Created,
        Kind,
    }

    const CREATED: FieldSpec<F> = FieldSpec {
        name: "created_at",
        field: F::Created,
        kind: FieldKind::Timestamp,
        filterable: true,
        sortable: true,
        searchable: false,
    };

    struct Thing;
    impl Resource for Thing {
        type Field = F;
        const CREATED_AT: F = F::Created;
        const FIELDS: &'static [FieldSpec<F>] = &[
            FieldSpec {
                name: "name",
                field: F::Name,
                kind: FieldKind::Text,
                filterable: true,
                sortable: true,
                searchable: true,
            },
            FieldSpec {
                name: "price",
                field: F::Price,
                kind: FieldKind::Integer,
                filterable: true,
                sortable: true,
                searchable: false,
            },
            FieldSpec {
                name: "secret",
                field: F::Secret,
                kind: FieldKind::Text,
                filterable: false,
                sortable: false,
                searchable: false,
            },
            CREATED,
            FieldSpec {
                name: "kind",
                field: F::Kind,
                kind: FieldKind::Enum(&["hot", "cold"]),
                filterable: true,
                sortable: false,
                searchable: false,
            },
        ];
    }

    fn q(pairs: &[(&str, &str)]) -> Result<ListQuery<F>, Vec<FieldError>> {
        let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        parse_list_query::<Thing>(&owned)
    }

    fn bad_params(pairs: &[(&str, &str)]) -> Vec<String> {
        q(pairs).unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn defaults_to_first_page_newest_first() {
        let query = q(&[]).unwrap();
        assert_eq!((query.page, query.page_size), (1, 20));
        assert_eq!(query.sort, vec![Sort { field: F::Created, descending: true }]);
    }

    #[test]
    fn parses_filters_sort_and_paging() {
        let query = q(&[
            ("price__gte", "100"),
            ("kind__in", "hot,cold"),
            ("sort", "-price,name"),
            ("page", "3"),
            ("page_size", "5"),
            ("search", " latte "),
        ])
        .unwrap();
        assert_eq!(query.filters[0], Filter { field: F::Price, op: Op::Gte, values: vec![Value::Int(100)] });
        // An enum's values are its whitelist's own names (`&'static str`).
        assert_eq!(query.filters[1].values, [Value::Enum("hot"), Value::Enum("cold")]);
        assert_eq!(query.sort[0], Sort { field: F::Price, descending: true });
        assert_eq!(query.offset(), 10);
        assert_eq!(query.search.as_deref(), Some("latte"));
    }

    #[test]
    fn refuses_fields_outside_the_whitelist() {
        assert_eq!(bad_params(&[("secret", "x")]), ["secret"]);
        assert_eq!(bad_params(&[("secret__contains", "a")]), ["secret__contains"]);
        assert_eq!(bad_params(&[("password_hash", "x")]), ["password_hash"]);
        assert_eq!(bad_params(&[("sort", "secret")]), ["sort"]);
        assert_eq!(bad_params(&[("sort", "kind")]), ["sort"]);
    }

    #[test]
    fn refuses_bad_operators_and_values() {
        assert_eq!(bad_params(&[("name__gt", "a")]), ["name__gt"]);
        assert_eq!(bad_params(&[("price__startswith", "1")]), ["price__startswith"]);
        assert_eq!(bad_params(&[("price", "cheap")]), ["price"]);
        assert_eq!(bad_params(&[("created_at__gt", "yesterday")]), ["created_at__gt"]);
        // Finer than stored times: the engines would compare it differently.
        assert_eq!(bad_params(&[("created_at__lt", "2026-03-01T10:00:00.1234566Z")]), ["created_at__lt"]);
        assert!(q(&[("created_at__lt", "2026-03-01T10:00:00.123456000+05:00")]).is_ok());
        // An empty text value, alone or in a list.
        for (key, value) in [("name", ""), ("name__contains", ""), ("name__in", "Latte,"), ("name__in", ",")] {
            assert_eq!(bad_params(&[(key, value)]), [key], "{key}={value}");
        }
        // Past 9999 (or before 0001) in UTC, SQLite's text order breaks.
        assert_eq!(bad_params(&[("created_at__lt", "9999-12-31T23:30:00-01:00")]), ["created_at__lt"]);
        assert_eq!(bad_params(&[("created_at__gt", "0000-12-31T23:30:00Z")]), ["created_at__gt"]);
        assert!(q(&[("created_at__lt", "9999-12-31T23:59:59Z")]).is_ok());
        assert_eq!(bad_params(&[("kind", "lukewarm")]), ["kind"]);
        assert_eq!(bad_params(&[("name", "a\0b"), ("search", "x\u{7}")]), ["name", "search"]);
    }

    /// A list with no searchable field, like conversations.
    struct Plain;
    impl Resource for Plain {
        type Field = F;
        const CREATED_AT: F = F::Created;
        const FIELDS: &'static [FieldSpec<F>] = &[CREATED];
    }

    #[test]
    fn refuses_search_where_no_field_is_searchable() {
        let owned = vec![("search".to_owned(), "oat".to_owned())];
        let errors = parse_list_query::<Plain>(&owned).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["search"]);
        assert!(q(&[("search", "oat")]).is_ok(), "a list with text fields still searches");
    }

    #[test]
    fn refuses_out_of_range_paging_and_reports_every_problem() {
        assert_eq!(bad_params(&[("page", "0"), ("page_size", "1000"), ("price", "x")]), ["page", "page_size", "price"]);
        assert_eq!(bad_params(&[("page_size", "-1")]), ["page_size"]);
        assert_eq!(bad_params(&[("price", "1"), ("price", "2")]), ["price"]);
    }

    #[test]
    fn refuses_more_parameters_than_any_list_takes_with_one_error() {
        let many: Vec<(String, String)> = (0..10_000).map(|n| (format!("p{n}"), String::new())).collect();
        let errors = parse_list_query::<Thing>(&many).unwrap_err();
        assert_eq!(errors.len(), 1, "one error, not one per parameter");
        assert_eq!(errors[0].field, "query");
        assert!(errors[0].message.contains("at most 64"), "{}", errors[0].message);
        // The limit itself is fine (each problem reported on its own).
        assert_eq!(parse_list_query::<Thing>(&many[..MAX_LIST_PARAMS]).unwrap_err().len(), MAX_LIST_PARAMS);
    }

    #[test]
    fn page_count_rounds_up() {
        let page = Page::<u8> { items: vec![], total: 41, page: 1, page_size: 20, version: None };
        assert_eq!(page.pages(), 3);
        assert_eq!(Page::<u8> { items: vec![], total: 0, page: 1, page_size: 20, version: None }.pages(), 0);
    }
}
