//! Temporal joins: `JOIN t FOR SYSTEM_TIME AS OF s.time`. The statement's
//! text names such a read `"t FOR SYSTEM_TIME AS OF s.time"` (see
//! `sql::system_time`); here that name is read back. Against a bounded
//! table it is a lookup join (`lookup.rs`: the table as loaded when the
//! query starts, whatever the time); against a versioned stream (a
//! PRIMARY KEY and a WATERMARK, as Flink defines a versioned table) each
//! row of `s` joins the version of its key valid at its event time
//! ([`TemporalJoinOperator`](crate::operators::temporal_join)).

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::Column;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan};

use crate::error::{Error, Result};
use crate::sql::system_time::AS_OF;

/// The table `side` reads `FOR SYSTEM_TIME AS OF` a time, and that time's
/// column, if it reads one so.
pub(super) fn versioned_read(side: &LogicalPlan) -> Result<Option<(String, Column)>> {
    let mut found = None;
    side.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Some((table, time)) = scan.table_name.table().split_once(AS_OF) {
                found = Some((table.to_string(), Column::from_qualified_name(time)));
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(found)
}

/// A temporal join's event-time columns (probe, versioned) and its keys:
/// the ON equalities of the versioned side's PRIMARY KEY columns (the
/// others are left to the residual condition, checked on the version
/// picked).
pub(super) struct TemporalKeys {
    pub times: [usize; 2],
    pub keys: Vec<(Expr, Expr)>,
    pub residual: Vec<Expr>,
}

/// Checks that the join of stream `probe` with stream `versioned` as of
/// `as_of` is a temporal join Flink would run: INNER or LEFT, as of the
/// probe's event time, the versioned side's event time passed through and
/// its PRIMARY KEY equated in ON.
pub(super) fn temporal_keys(
    [probe, versioned]: &[String; 2],
    as_of: &Column,
    join_type: JoinType,
    times: [Option<(Column, usize)>; 2],
    keys: Vec<(Expr, Expr)>,
    primary_key: &[String],
) -> Result<TemporalKeys> {
    if !matches!(join_type, JoinType::Inner | JoinType::Left) {
        return Err(Error::query(format!(
            "a temporal join (FOR SYSTEM_TIME AS OF) of '{probe}' with '{versioned}' is \
             INNER or LEFT, not {}: each row of '{probe}' joins one version",
            join_type.to_string().to_uppercase()
        )));
    }
    let probe_time = match &times[0] {
        Some((time, index))
            if time.name == as_of.name
                && (as_of.relation.is_none() || time.relation == as_of.relation) =>
        {
            *index
        }
        Some((time, _)) => {
            return Err(Error::query(format!(
                "'{versioned}' is a stream: a temporal join with it is on event time, FOR \
                 SYSTEM_TIME AS OF the event-time column of '{probe}' ({time}), not {as_of}; \
                 a join as of processing time (PROCTIME()) is a lookup, against a bounded \
                 table (no WATERMARK)"
            )))
        }
        None => {
            return Err(Error::query(format!(
                "a temporal join with stream '{versioned}' is on event time: '{probe}' needs \
                 a WATERMARK, and its event-time column passed through to the join"
            )))
        }
    };
    let Some((_, version_time)) = &times[1] else {
        return Err(Error::query(format!(
            "'{versioned}' is read FOR SYSTEM_TIME AS OF {as_of} but is no versioned table: \
             declare its event time (WATERMARK FOR ts AS ...) and keep that column in the join"
        )));
    };
    if primary_key.is_empty() {
        return Err(Error::query(format!(
            "'{versioned}' is read FOR SYSTEM_TIME AS OF {as_of} but is no versioned table: \
             declare its key, PRIMARY KEY (...) NOT ENFORCED, each row a new version of its key"
        )));
    }
    let key_column = |e: &Expr| match e {
        Expr::Column(c) if primary_key.contains(&c.name) => Some(c.name.clone()),
        _ => None,
    };
    let (keys, others): (Vec<_>, Vec<_>) =
        keys.into_iter().partition(|(_, v)| key_column(v).is_some());
    let mut equated: Vec<String> = keys.iter().filter_map(|(_, v)| key_column(v)).collect();
    equated.sort();
    equated.dedup();
    let mut wanted = primary_key.to_vec();
    wanted.sort();
    if equated != wanted {
        return Err(Error::query(format!(
            "a temporal join with '{versioned}' looks its versions up by its PRIMARY KEY \
             ({}): ON must equate each of those columns with one of '{probe}'",
            primary_key.join(", ")
        )));
    }
    Ok(TemporalKeys {
        times: [probe_time, *version_time],
        keys,
        residual: others.into_iter().map(|(p, v)| p.eq(v)).collect(),
    })
}
