//! The order status machine: one exhaustive table of who may move an order
//! from which status to which. Handlers never compare status strings; the
//! service asks [`check_transition`], and the store applies the move with a
//! conditional update on the status and version it was judged against.
//!
//! ```text
//! pending ──► confirmed ──► preparing ──► ready ──► completed      (admin)
//!    │            │             │           │
//!    └────────────┴─────────────┴───────────┴──► cancelled        (admin; the owner only from pending)
//! ```

use super::model::OrderStatus;

/// Who asks for the move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mover {
    /// Staff.
    Admin,
    /// The customer who placed the order.
    Owner,
}

/// Why a move is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The move does not exist (from this status, for anyone who may make it).
    #[error("cannot move an order from {from} to {to}", from = .from.as_str(), to = .to.as_str())]
    Invalid {
        /// Current status.
        from: OrderStatus,
        /// Requested status.
        to: OrderStatus,
    },
    /// An owner asked for a status change only staff make.
    #[error("only staff move an order to {}", .0.as_str())]
    StaffOnly(OrderStatus),
}

/// Who may move an order along one edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    Nobody,
    Staff,
    StaffOrOwner,
}

/// The table. Each arm lists every target, so a new status cannot be added
/// without deciding every move from and to it.
fn allowed(from: OrderStatus, to: OrderStatus) -> Allowed {
    use Allowed::{Nobody, Staff, StaffOrOwner};
    use OrderStatus::{Cancelled, Completed, Confirmed, Pending, Preparing, Ready};
    match from {
        Pending => match to {
            Confirmed => Staff,
            Cancelled => StaffOrOwner,
            Pending | Preparing | Ready | Completed => Nobody,
        },
        Confirmed => match to {
            Preparing | Cancelled => Staff,
            Pending | Confirmed | Ready | Completed => Nobody,
        },
        Preparing => match to {
            Ready | Cancelled => Staff,
            Pending | Confirmed | Preparing | Completed => Nobody,
        },
        Ready => match to {
            Completed | Cancelled => Staff,
            Pending | Confirmed | Preparing | Ready => Nobody,
        },
        Completed | Cancelled => Nobody,
    }
}

/// Whether `by` may move an order from `from` to `to`.
///
/// # Errors
/// `StaffOnly` when an owner asks for anything but a cancellation (SPEC §6:
/// "any other status change by an owner → 403"), `Invalid` when the move
/// does not exist for them (a final order, a skipped step, a cancellation
/// after the shop confirmed it).
pub fn check_transition(from: OrderStatus, to: OrderStatus, by: Mover) -> Result<(), TransitionError> {
    if by == Mover::Owner && to != OrderStatus::Cancelled {
        return Err(TransitionError::StaffOnly(to));
    }
    match (allowed(from, to), by) {
        (Allowed::Staff, Mover::Admin) | (Allowed::StaffOrOwner, _) => Ok(()),
        _ => Err(TransitionError::Invalid { from, to }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::{Cancelled, Completed, Confirmed, Pending, Preparing, Ready};

    /// Every (from, to) pair an admin may make; everything else is refused.
    const ADMIN_MOVES: [(OrderStatus, OrderStatus); 8] = [
        (Pending, Confirmed),
        (Confirmed, Preparing),
        (Preparing, Ready),
        (Ready, Completed),
        (Pending, Cancelled),
        (Confirmed, Cancelled),
        (Preparing, Cancelled),
        (Ready, Cancelled),
    ];

    #[test]
    fn admins_move_orders_along_the_line_or_cancel_any_unfinished_one_and_nothing_else() {
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = ADMIN_MOVES.contains(&(from, to));
                let got = check_transition(from, to, Mover::Admin);
                assert_eq!(got.is_ok(), expected, "admin {from:?} → {to:?}: {got:?}");
                if !expected {
                    assert_eq!(got, Err(TransitionError::Invalid { from, to }));
                }
            }
        }
    }

    #[test]
    fn owners_only_cancel_and_only_while_pending() {
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let got = check_transition(from, to, Mover::Owner);
                let expected = match (from, to) {
                    (Pending, Cancelled) => Ok(()),
                    (_, Cancelled) => Err(TransitionError::Invalid { from, to }),
                    _ => Err(TransitionError::StaffOnly(to)),
                };
                assert_eq!(got, expected, "owner {from:?} → {to:?}");
            }
        }
    }

    #[test]
    fn final_orders_never_move_and_statuses_round_trip_their_names() {
        for to in OrderStatus::ALL {
            for by in [Mover::Admin, Mover::Owner] {
                for from in [Completed, Cancelled] {
                    assert!(check_transition(from, to, by).is_err());
                }
            }
        }
        for (status, name) in OrderStatus::ALL.into_iter().zip(OrderStatus::NAMES) {
            assert_eq!((status.as_str(), OrderStatus::parse(name)), (*name, Some(status)));
        }
        assert_eq!(OrderStatus::parse("shipped"), None);
    }
}
