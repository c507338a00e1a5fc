using MLNetSlim.Architecture;

namespace MLNetSlim.Control;

/// <summary>The configuration a controller chose for one query, with its cost and predicted performance.</summary>
/// <param name="Selected">The chosen configuration as the forward pass takes it: encoder option, decoder width
/// indices and exact MACs (pass it to the model's Predict as is).</param>
/// <param name="FractionOfFullMacs">MACs as a fraction of the full configuration's.</param>
/// <param name="LatencyMs">Predicted latency in ms from the latency table, or null when the controller has none.</param>
/// <param name="Budget">The budget of the query.</param>
/// <param name="Cost">The configuration's cost in the budget's unit (fraction of full MACs, MACs or ms); never more
/// than <c>Budget.Value</c>.</param>
/// <param name="PredictedRelativePerformance">P_t(e, d_t) per task from the calibration table (fraction of full).</param>
/// <param name="Preferences">The normalised preferences used (sum 1).</param>
public sealed record SearchResult(
    ResolvedConfiguration Selected,
    double FractionOfFullMacs,
    double? LatencyMs,
    Budget Budget,
    double Cost,
    IReadOnlyList<double> PredictedRelativePerformance,
    IReadOnlyList<double> Preferences)
{
    /// <summary>The chosen configuration as width multipliers (<c>Selected.Widths</c>).</summary>
    public WidthConfiguration Configuration => Selected.Widths;

    /// <summary>Its encoder option index (see <see cref="CostTable.EncoderOption"/>).</summary>
    public int EncoderOption => Selected.EncoderOption;

    /// <summary>Its decoder width indices, one per task (indices into the width set).</summary>
    public IReadOnlyList<int> DecoderWidthIndices => Selected.DecoderWidthIndices;

    /// <summary>Exact MACs per image of the configuration.</summary>
    public long Macs => Selected.Macs;

    /// <summary>Cost / budget value (unitless, at most 1).</summary>
    public double BudgetUtilisation => Cost / Budget.Value;
}

/// <summary>A controller: turns a budget and task preferences into a width configuration without retraining.</summary>
internal interface IConfigurationController
{
    /// <summary>A short name for reports ("ecmt-search", "equal-width").</summary>
    string Name { get; }

    /// <summary>The network's cost table.</summary>
    CostTable Costs { get; }

    /// <summary>The calibration the controller reads.</summary>
    CalibrationTable Calibration { get; }

    /// <summary>The latency table used for millisecond budgets, or null.</summary>
    LatencyTable? Latency { get; }

    /// <summary>Chooses a configuration whose cost is at most the budget.</summary>
    /// <param name="budget">The compute budget (fraction of full MACs, MACs, or ms).</param>
    /// <param name="preferences">Non-negative weights in task order (normalised by the controller).</param>
    /// <exception cref="BudgetInfeasibleException">The budget is below the cheapest configuration.</exception>
    /// <exception cref="ArgumentException">Invalid preferences (see <see cref="TaskPreferences"/>).</exception>
    /// <exception cref="InvalidOperationException">A millisecond budget without a latency table.</exception>
    SearchResult Search(Budget budget, IReadOnlyList<double> preferences);
}
