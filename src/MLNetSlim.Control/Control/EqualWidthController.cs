using MLNetSlim.Architecture;

namespace MLNetSlim.Control;

/// <summary>
/// Preference-blind baseline controller: every decoder runs at the same width index d, and the encoder option e and d
/// are chosen to maximise the mean relative performance (1/T) sum_t P_t(e, d) within the budget (ties: the more
/// expensive configuration, then the larger encoder index). It ignores the preferences, so it shows what the ECMT
/// search gains in controllability. Never over budget; a budget below its cheapest configuration (every part at the
/// cheapest equal width) raises <see cref="BudgetInfeasibleException"/>.
/// </summary>
internal sealed class EqualWidthController : IConfigurationController
{
    private readonly CostModel _macs;
    private readonly CostModel? _ms;
    private readonly double[][] _mean; // [e][d]

    /// <summary>Creates the baseline.</summary>
    /// <param name="costs">The network's exact MAC costs.</param>
    /// <param name="calibration">The calibration (same tasks, widths and encoder options).</param>
    /// <param name="latency">Optional latency table for millisecond budgets.</param>
    /// <exception cref="ArgumentNullException"><paramref name="costs"/> or <paramref name="calibration"/> is null.</exception>
    /// <exception cref="ArgumentException">The tables do not match.</exception>
    public EqualWidthController(CostTable costs, CalibrationTable calibration, LatencyTable? latency = null)
    {
        ArgumentNullException.ThrowIfNull(costs);
        ArgumentNullException.ThrowIfNull(calibration);
        calibration.EnsureMatches(costs);
        Costs = costs;
        Calibration = calibration;
        Latency = latency;
        _macs = new CostModel(costs, null);
        _ms = latency is null ? null : new CostModel(costs, latency);
        _mean = new double[costs.EncoderOptionCount][];
        for (int e = 0; e < costs.EncoderOptionCount; e++)
        {
            _mean[e] = new double[costs.DecoderWidths.Count];
            for (int d = 0; d < costs.DecoderWidths.Count; d++)
            {
                double s = 0;
                for (int t = 0; t < costs.TaskCount; t++) s += calibration.Relative(t, e, d);
                _mean[e][d] = s / costs.TaskCount;
            }
        }
    }

    /// <inheritdoc />
    public string Name => "equal-width";

    /// <inheritdoc />
    public CostTable Costs { get; }

    /// <inheritdoc />
    public CalibrationTable Calibration { get; }

    /// <inheritdoc />
    public LatencyTable? Latency { get; }

    /// <summary>Chooses the best equal-width configuration within the budget; the preferences are validated, recorded
    /// in the result, and otherwise ignored.</summary>
    /// <exception cref="BudgetInfeasibleException">The budget is below the cheapest equal-width configuration.</exception>
    /// <exception cref="ArgumentException">Invalid preferences.</exception>
    /// <exception cref="InvalidOperationException">A millisecond budget without a latency table.</exception>
    public SearchResult Search(Budget budget, IReadOnlyList<double> preferences)
    {
        double[] p = TaskPreferences.Normalize(preferences, Costs.TaskCount);
        CostModel m = budget.Unit == BudgetUnit.Milliseconds
            ? _ms ?? throw new InvalidOperationException("A budget in milliseconds needs a latency table.")
            : _macs;
        double capacity = m.Capacity(budget);
        int bestE = -1, bestD = -1;
        double bestV = double.NegativeInfinity, bestCost = double.NegativeInfinity, smallest = double.PositiveInfinity;
        var d = new int[Costs.TaskCount];
        for (int e = 0; e < Costs.EncoderOptionCount; e++)
            for (int w = 0; w < Costs.DecoderWidths.Count; w++)
            {
                Array.Fill(d, w);
                double c = m.Cost(e, d);
                smallest = Math.Min(smallest, c);
                if (c > capacity) continue;
                double v = _mean[e][w];
                if (v > bestV || (v == bestV && c >= bestCost)) { bestV = v; bestCost = c; bestE = e; bestD = w; }
            }
        if (bestE < 0) throw m.Infeasible(budget, smallest);
        Array.Fill(d, bestD);
        return m.Result(bestE, d, budget, p, Calibration, Latency);
    }
}
