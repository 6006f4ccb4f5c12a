//! OVER aggregates over a stream, lowered to their operator: every
//! aggregate of the OVER node shares one window (as Flink requires), ordered
//! by the stream's event time, with a frame of `n PRECEDING` rows or an
//! `INTERVAL ... PRECEDING` range up to the current row.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, Window, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition,
};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::prelude::SessionContext;

use crate::changelog::ChangelogMode;
use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;
use crate::operators::emission::EmissionPlan;
use crate::operators::group_aggregate::Aggregate;
use crate::operators::over_aggregate::{Frame, OverAggregate};

/// True when `window`'s functions are aggregates (not rankings).
pub(super) fn is_over_aggregate(window: &Window) -> bool {
    window.window_expr.iter().any(|e| {
        matches!(
            e.clone().unalias_nested().data,
            Expr::WindowFunction(f) if matches!(f.fun, WindowFunctionDefinition::AggregateUDF(_))
        )
    })
}

/// The operator's plan for the OVER aggregates of `window`, reading the
/// rows `input` gives; `time_column` is the stream's event time.
pub(super) fn over_aggregate_of(
    ctx: &SessionContext,
    window: &Window,
    input: EmissionPlan,
    schema: SchemaRef,
    input_mode: ChangelogMode,
    time_column: Option<&str>,
    metrics: Arc<StreamMetrics>,
) -> Result<OverAggregate> {
    if input_mode == ChangelogMode::Updating {
        return Err(Error::query(
            "OVER aggregates over an updating result (a GROUP BY's, a Top-N's) are not \
             supported, as in Flink: they need rows that never change, in event-time order",
        ));
    }
    let functions = window
        .window_expr
        .iter()
        .map(|e| match e.clone().unalias_nested().data {
            Expr::WindowFunction(f) => Ok(*f),
            _ => Err(Error::Internal(
                "an OVER node without a window function".into(),
            )),
        })
        .collect::<Result<Vec<WindowFunction>>>()?;
    let first = &functions[0].params;
    if functions.iter().any(|f| {
        f.params.partition_by != first.partition_by
            || f.params.order_by != first.order_by
            || f.params.window_frame != first.window_frame
    }) {
        return Err(Error::query(
            "the OVER aggregates of one SELECT over a stream must share one window (the same \
             PARTITION BY, ORDER BY and frame, as in Flink); name it once with WINDOW w AS (...)",
        ));
    }
    let time = time_column.unwrap_or("the event-time column");
    let order_error = || {
        Error::query(format!(
            "OVER aggregates over a stream must be ordered by its event time ascending: \
             OVER (PARTITION BY ... ORDER BY {time} ...)"
        ))
    };
    let input_schema = window.input.schema();
    let time_index = match first.order_by.as_slice() {
        [sort] if sort.asc => match &sort.expr {
            Expr::Column(c) if Some(c.name.as_str()) == time_column => {
                input_schema.index_of_column(c)?
            }
            _ => return Err(order_error()),
        },
        _ => return Err(order_error()),
    };
    let frame = frame_of(&first.window_frame)?;
    let state = ctx.state();
    let arrow_input = Arc::new(input_schema.as_arrow().clone());
    let partition_by = first
        .partition_by
        .iter()
        .map(|e| Ok(state.create_physical_expr(e.clone(), input_schema)?))
        .collect::<Result<Vec<_>>>()?;
    let mut aggregates = Vec::new();
    for function in &functions {
        let WindowFunctionDefinition::AggregateUDF(udaf) = &function.fun else {
            return Err(Error::query(format!(
                "{}() cannot be mixed with OVER aggregates in one SELECT over a stream",
                function.fun.name()
            )));
        };
        let params = &function.params;
        let expr = Expr::AggregateFunction(AggregateFunction::new_udf(
            Arc::clone(udaf),
            params.args.clone(),
            params.distinct,
            params.filter.clone(),
            Vec::new(),
            params.null_treatment,
        ));
        let lowered = LoweredAggregateBuilder::new(
            &expr,
            input_schema,
            &arrow_input,
            state.execution_props(),
            &PhysicalPlanningContext::default(),
        )
        .build()?;
        aggregates.push(Aggregate {
            function: lowered.aggregate,
            filter: lowered.filter,
        });
    }
    let names = |exprs: &[Expr]| {
        exprs
            .iter()
            .map(|e| e.schema_name().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(OverAggregate {
        input,
        partition_by,
        time_index,
        frame,
        aggregates,
        input_schema: arrow_input,
        schema,
        metrics,
        description: format!(
            "over aggregate: {} aggregate(s) partition by [{}] order by {time}, {}, \
             each row emitted when the watermark passes it",
            functions.len(),
            names(&first.partition_by),
            match frame {
                Frame::Rows(n) => format!("ROWS {n} PRECEDING"),
                Frame::Range(ms) => format!("RANGE {ms} ms PRECEDING"),
            }
        ),
    })
}

/// The frame of `frame`: `n PRECEDING` rows or an interval range, up to the
/// current row.
fn frame_of(frame: &datafusion::logical_expr::WindowFrame) -> Result<Frame> {
    let refuse = || {
        Error::query(
            "OVER aggregates over a stream need a bounded frame up to the current row: \
             ROWS BETWEEN n PRECEDING AND CURRENT ROW, or RANGE BETWEEN INTERVAL '1' HOUR \
             PRECEDING AND CURRENT ROW (UNBOUNDED PRECEDING would keep every row)",
        )
    };
    if !matches!(frame.end_bound, WindowFrameBound::CurrentRow) {
        return Err(refuse());
    }
    let WindowFrameBound::Preceding(value) = &frame.start_bound else {
        return Err(refuse());
    };
    if value.is_null() {
        return Err(refuse());
    }
    match (frame.units, value) {
        (WindowFrameUnits::Rows, value) => {
            match value.cast_to(&datafusion::arrow::datatypes::DataType::UInt64)? {
                ScalarValue::UInt64(Some(n)) => Ok(Frame::Rows(n)),
                _ => Err(refuse()),
            }
        }
        (WindowFrameUnits::Range, ScalarValue::IntervalMonthDayNano(Some(v))) if v.months == 0 => {
            Ok(Frame::Range(
                v.days as i64 * 86_400_000 + v.nanoseconds / 1_000_000,
            ))
        }
        (WindowFrameUnits::Range, ScalarValue::IntervalDayTime(Some(v))) => Ok(Frame::Range(
            v.days as i64 * 86_400_000 + v.milliseconds as i64,
        )),
        _ => Err(refuse()),
    }
}
