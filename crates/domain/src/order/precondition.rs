//! A client's conditions on the version of an order it changes (RFC 9110
//! §13: `If-Match` and `If-None-Match`). They are judged on the version the
//! change is about to replace, so a change that lands in between is judged
//! too: the write itself is conditional on that version.

/// The versions an entity-tag list names, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Versions {
    /// `*`: any version, that is, the order exists.
    Any,
    /// The versions the tags name; a tag that is no version of ours names none.
    Of(Vec<i64>),
}

impl Versions {
    fn contains(&self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::Of(versions) => versions.contains(&version),
        }
    }
}

/// What a change requires of the order's current version. The default
/// requires nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Precondition {
    /// `If-Match`: the version must be one of these.
    pub if_match: Option<Versions>,
    /// `If-None-Match`: the version must be none of these.
    pub if_none_match: Option<Versions>,
}

/// The condition a change failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The order is at none of the versions `If-Match` names.
    IfMatch,
    /// The order is at a version `If-None-Match` names (or it said `*`).
    IfNoneMatch,
}

impl Precondition {
    /// Only at `version` (`If-Match: "<version>"`).
    #[must_use]
    pub fn at(version: i64) -> Self {
        Self { if_match: Some(Versions::Of(vec![version])), if_none_match: None }
    }

    /// Judges the version a change would replace: `If-Match` first, then
    /// `If-None-Match` (RFC 9110 §13.2.2).
    ///
    /// # Errors
    /// The condition that does not hold.
    pub fn check(&self, version: i64) -> Result<(), Condition> {
        if self.if_match.as_ref().is_some_and(|named| !named.contains(version)) {
            return Err(Condition::IfMatch);
        }
        if self.if_none_match.as_ref().is_some_and(|named| named.contains(version)) {
            return Err(Condition::IfNoneMatch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_is_judged_before_if_none_match() {
        let both = Precondition { if_match: Some(Versions::Of(vec![2, 3])), if_none_match: Some(Versions::Any) };
        assert_eq!(both.check(4), Err(Condition::IfMatch));
        assert_eq!(both.check(3), Err(Condition::IfNoneMatch));
        let list = Precondition { if_match: Some(Versions::Of(vec![2, 3])), if_none_match: None };
        assert_eq!((list.check(2), list.check(3)), (Ok(()), Ok(())), "any of the list matches");
        let none_of = Precondition { if_match: Some(Versions::Any), if_none_match: Some(Versions::Of(vec![1])) };
        assert_eq!((none_of.check(1), none_of.check(2)), (Err(Condition::IfNoneMatch), Ok(())));
        assert_eq!(
            Precondition { if_match: Some(Versions::Of(vec![])), if_none_match: None }.check(1),
            Err(Condition::IfMatch)
        );
        assert_eq!(Precondition::default().check(7), Ok(()));
        assert_eq!(Precondition::at(7).check(8), Err(Condition::IfMatch));
    }
}
