using System.Text.Json;
using MLNetSlim.Control;
using MLNetSlim.Architecture;

namespace MLNetSlim.Evaluation;

/// <summary>
/// Measures how well a controller follows user constraints (protocol after DYMU, Raychaudhuri et al. CVPR 2022, and
/// ECMT, ICCV 2023): for every budget and each of N preference vectors drawn from Dirichlet(alpha) (seeded; the same
/// vectors for every budget and every controller, so comparisons are paired) it runs the controller and reports
/// budget adherence, budget utilisation, the mean over tasks of Spearman(p_t, P_t(c)) across the N queries, DYMU uniformity and the hypervolume of the chosen
/// configurations' normalised performance. P(c) is the relative performance P_t(e, d_t) read from a calibration table:
/// by default the controller's own (its prediction, which equals the measured one on the calibration data for
/// independent decoders, see <see cref="CalibrationTable"/>); pass an <c>evaluation</c> table measured on other data
/// (e.g. the test set) to score the chosen configurations on data the controller never saw.
/// </summary>
internal static class ControllabilityEvaluator
{
    /// <summary>Evaluates one controller.</summary>
    /// <param name="controller">The controller.</param>
    /// <param name="budgets">Budgets to query; each must be feasible for the controller.</param>
    /// <param name="preferenceCount">N, preference vectors per budget (at least 1).</param>
    /// <param name="seed">Seed of the preference vectors (and of the Monte Carlo hypervolume for &gt; 3 tasks).</param>
    /// <param name="alpha">Dirichlet concentration (default 0.2).</param>
    /// <param name="hypervolumeSamples">Monte Carlo samples when the hypervolume is estimated (&gt; 3 tasks, &gt; 16 points).</param>
    /// <param name="evaluation">Where P(c) and the hypervolume's normalisation range come from: a table of the same
    /// network measured on evaluation data (for example <c>ModelTrainer.Calibrate(network, test)</c>);
    /// null (default): the controller's own <see cref="IConfigurationController.Calibration"/>. The controller still
    /// searches with its own table.</param>
    /// <returns>Overall means and per-budget figures.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">No budgets, or <paramref name="evaluation"/> does not match the controller's
    /// cost table.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="preferenceCount"/> below 1 or alpha not positive.</exception>
    /// <exception cref="BudgetInfeasibleException">A budget is below the controller's cheapest configuration.</exception>
    public static ControllabilityReport Evaluate(IConfigurationController controller, IReadOnlyList<Budget> budgets, int preferenceCount,
        int seed, double alpha = 0.2, int hypervolumeSamples = 20_000, CalibrationTable? evaluation = null)
    {
        ArgumentNullException.ThrowIfNull(controller);
        ArgumentNullException.ThrowIfNull(budgets);
        if (budgets.Count == 0) throw new ArgumentException("At least one budget is needed.", nameof(budgets));
        ArgumentOutOfRangeException.ThrowIfLessThan(preferenceCount, 1);
        double[][] prefs = Preferences(controller.Costs.TaskCount, preferenceCount, seed, alpha);
        return Evaluate(controller, budgets, prefs, seed, alpha, hypervolumeSamples, evaluation);
    }

    /// <summary>Evaluates one controller on given preference vectors (one per query, each of the task count, in task
    /// order) instead of seeded Dirichlet draws; <paramref name="seed"/> and <paramref name="alpha"/> are only recorded
    /// (and seed the Monte Carlo hypervolume).</summary>
    public static ControllabilityReport Evaluate(IConfigurationController controller, IReadOnlyList<Budget> budgets, double[][] prefs,
        int seed, double alpha, int hypervolumeSamples = 20_000, CalibrationTable? evaluation = null)
    {
        ArgumentNullException.ThrowIfNull(controller);
        ArgumentNullException.ThrowIfNull(budgets);
        ArgumentNullException.ThrowIfNull(prefs);
        if (budgets.Count == 0) throw new ArgumentException("At least one budget is needed.", nameof(budgets));
        if (prefs.Length == 0) throw new ArgumentException("At least one preference vector is needed.", nameof(prefs));
        CostTable costs = controller.Costs;
        evaluation?.EnsureMatches(costs);
        CalibrationTable cal = evaluation ?? controller.Calibration;
        int tCount = costs.TaskCount;
        int preferenceCount = prefs.Length;
        (double[] lo, double[] hi) = PerformanceRange(cal);
        long full = costs.FullMacs;
        var perBudget = new List<BudgetControllability>();
        foreach (Budget budget in budgets)
        {
            int within = 0;
            double util = 0, uni = 0;
            var points = new List<IReadOnlyList<double>>();
            var performance = new List<double[]>();
            var distinct = new HashSet<WidthConfiguration>();
            foreach (double[] p in prefs)
            {
                SearchResult r = controller.Search(budget, p);
                WidthConfiguration c = r.Configuration;
                distinct.Add(c);
                // Independent recomputation of the cost from the configuration.
                long macs = costs.Macs(c);
                double cost = budget.Unit switch
                {
                    BudgetUnit.FractionOfFullMacs => (double)macs / full,
                    BudgetUnit.Macs => macs,
                    _ => (controller.Latency ?? throw new InvalidOperationException("Millisecond budgets need a latency table.")).PredictMs(c),
                };
                if (cost <= budget.Value) within++;
                util += cost / budget.Value;
                int e = costs.EncoderOptionOf(c);
                int[] d = c.DecoderWidths.Select(w => costs.DecoderWidths.IndexOf(w)).ToArray();
                double[] perf = cal.Relative(e, d);
                performance.Add(perf);
                uni += MultiTaskMetrics.Uniformity(p, perf.Select(x => Math.Max(0, 1 - x)).ToArray());
                points.Add(perf.Select((x, t) => hi[t] > lo[t] ? Math.Clamp((x - lo[t]) / (hi[t] - lo[t]), 0, 1) : 1.0).ToArray());
            }
            int n = prefs.Length;
            // Controllability (DYMU): for each task, the rank correlation across the N queries between the preference
            // for that task and its relative performance; averaged over tasks. A controller that ignores preferences
            // scores 0.
            double rho = Enumerable.Range(0, tCount)
                .Average(t => MultiTaskMetrics.Spearman(prefs.Select(q => q[t]).ToArray(), performance.Select(q => q[t]).ToArray()));
            perBudget.Add(new BudgetControllability(budget.ToString(), budget.Unit.ToString(), budget.Value, n, (double)within / n, util / n,
                rho, uni / n, MultiTaskMetrics.Hypervolume(points, hypervolumeSamples, seed), distinct.Count));
        }
        return new ControllabilityReport(controller.Name, tCount, perBudget.Sum(b => b.Queries), preferenceCount, alpha, seed,
            perBudget.Sum(b => b.BudgetAdherence * b.Queries) / perBudget.Sum(b => b.Queries),
            perBudget.Average(b => b.MeanBudgetUtilisation), perBudget.Average(b => b.MeanSpearman),
            perBudget.Average(b => b.MeanUniformity), perBudget.Average(b => b.Hypervolume), perBudget);
    }

    /// <summary>Evaluates the ECMT search and the equal-width baseline on the same budgets and preference vectors
    /// (and, when given, scores both with the same <paramref name="evaluation"/> table; see <see cref="Evaluate(IConfigurationController, IReadOnlyList{Budget}, int, int, double, int, CalibrationTable?)"/>).</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">No budgets, the controllers belong to different networks, or
    /// <paramref name="evaluation"/> does not match them.</exception>
    /// <exception cref="BudgetInfeasibleException">A budget is infeasible for either controller.</exception>
    public static ControllabilityComparison Compare(IConfigurationController search, IConfigurationController baseline,
        IReadOnlyList<Budget> budgets, int preferenceCount, int seed, double alpha = 0.2, CalibrationTable? evaluation = null)
    {
        ArgumentNullException.ThrowIfNull(search);
        ArgumentNullException.ThrowIfNull(baseline);
        if (!search.Costs.TaskNames.SequenceEqual(baseline.Costs.TaskNames))
            throw new ArgumentException("The controllers belong to different networks.", nameof(baseline));
        return new ControllabilityComparison(
            Evaluate(search, budgets, preferenceCount, seed, alpha, evaluation: evaluation),
            Evaluate(baseline, budgets, preferenceCount, seed, alpha, evaluation: evaluation));
    }

    /// <summary><see cref="Compare(IConfigurationController, IConfigurationController, IReadOnlyList{Budget}, int, int, double, CalibrationTable?)"/>
    /// on given preference vectors.</summary>
    public static ControllabilityComparison Compare(IConfigurationController search, IConfigurationController baseline,
        IReadOnlyList<Budget> budgets, double[][] preferences, int seed, CalibrationTable? evaluation = null)
    {
        ArgumentNullException.ThrowIfNull(search);
        ArgumentNullException.ThrowIfNull(baseline);
        if (!search.Costs.TaskNames.SequenceEqual(baseline.Costs.TaskNames))
            throw new ArgumentException("The controllers belong to different networks.", nameof(baseline));
        return new ControllabilityComparison(
            Evaluate(search, budgets, preferences, seed, double.NaN, evaluation: evaluation),
            Evaluate(baseline, budgets, preferences, seed, double.NaN, evaluation: evaluation));
    }

    /// <summary>The N seeded Dirichlet(alpha) preference vectors the evaluator uses.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Invalid sizes or alpha.</exception>
    public static double[][] Preferences(int taskCount, int count, int seed, double alpha)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var rng = new Random(seed);
        var prefs = new double[count][];
        for (int i = 0; i < count; i++) prefs[i] = Dirichlet.Sample(rng, taskCount, alpha);
        return prefs;
    }

    /// <summary>Per task, the smallest and largest relative performance in the calibration table; the hypervolume
    /// normalises P_t to (P_t - lo_t) / (hi_t - lo_t), clamped to [0, 1] (1 when hi = lo).</summary>
    private static (double[] Lo, double[] Hi) PerformanceRange(CalibrationTable cal)
    {
        var lo = new double[cal.TaskCount];
        var hi = new double[cal.TaskCount];
        for (int t = 0; t < cal.TaskCount; t++)
        {
            lo[t] = double.PositiveInfinity;
            hi[t] = double.NegativeInfinity;
            for (int e = 0; e < cal.EncoderOptionCount; e++)
                for (int d = 0; d < cal.WidthCount; d++)
                {
                    lo[t] = Math.Min(lo[t], cal.Relative(t, e, d));
                    hi[t] = Math.Max(hi[t], cal.Relative(t, e, d));
                }
        }
        return (lo, hi);
    }
}

/// <summary>Controllability of one controller at one budget.</summary>
/// <param name="Budget">The budget as text ("0.5 of full MACs").</param>
/// <param name="Unit">The budget's unit name.</param>
/// <param name="Value">The budget's value in that unit.</param>
/// <param name="Queries">Number of preference vectors queried.</param>
/// <param name="BudgetAdherence">Share of queries whose configuration is within the budget (fraction; must be 1).</param>
/// <param name="MeanBudgetUtilisation">Mean cost(c) / budget (fraction).</param>
/// <param name="MeanSpearman">Mean over tasks of the Spearman correlation, across the queries, between the preference
/// for the task and its relative performance P_t(c) (0 when the task's performance does not change).</param>
/// <param name="MeanUniformity">Mean DYMU uniformity with L = max(0, 1 - P(c)).</param>
/// <param name="Hypervolume">Hypervolume (fraction of the unit cube) of the chosen configurations' normalised
/// performance points.</param>
/// <param name="DistinctConfigurations">How many different configurations the queries produced.</param>
internal sealed record BudgetControllability(string Budget, string Unit, double Value, int Queries, double BudgetAdherence,
    double MeanBudgetUtilisation, double MeanSpearman, double MeanUniformity, double Hypervolume, int DistinctConfigurations);

/// <summary>Controllability of one controller over all budgets (means over budgets; adherence over all queries).</summary>
/// <param name="Controller">The controller's name.</param>
/// <param name="Tasks">Number of tasks.</param>
/// <param name="Queries">Total queries (budgets x preference vectors).</param>
/// <param name="PreferenceVectors">Preference vectors per budget.</param>
/// <param name="DirichletAlpha">Dirichlet concentration of the preference vectors.</param>
/// <param name="Seed">Seed of the preference vectors.</param>
/// <param name="BudgetAdherence">Share of all queries within budget (fraction; must be 1).</param>
/// <param name="MeanBudgetUtilisation">Mean cost / budget (fraction).</param>
/// <param name="MeanSpearman">Mean Spearman(p, P(c)).</param>
/// <param name="MeanUniformity">Mean DYMU uniformity.</param>
/// <param name="MeanHypervolume">Mean over budgets of the per-budget hypervolume.</param>
/// <param name="PerBudget">Per-budget figures.</param>
internal sealed record ControllabilityReport(string Controller, int Tasks, int Queries, int PreferenceVectors, double DirichletAlpha, int Seed,
    double BudgetAdherence, double MeanBudgetUtilisation, double MeanSpearman, double MeanUniformity, double MeanHypervolume,
    IReadOnlyList<BudgetControllability> PerBudget);

/// <summary>The ECMT search and the preference-blind baseline side by side.</summary>
/// <param name="Search">The ECMT search's report.</param>
/// <param name="Baseline">The equal-width baseline's report.</param>
internal sealed record ControllabilityComparison(ControllabilityReport Search, ControllabilityReport Baseline)
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    /// <summary>Indented JSON (System.Text.Json).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Options);

    /// <summary>Reads <see cref="ToJson"/>'s output.</summary>
    /// <exception cref="JsonException">Not a comparison.</exception>
    public static ControllabilityComparison FromJson(string json) =>
        JsonSerializer.Deserialize<ControllabilityComparison>(json, Options) ?? throw new JsonException("Empty JSON.");

    /// <summary>A plain-text table for a console.</summary>
    public override string ToString()
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.AppendLine(ci, $"{"controller",-14} {"adherence",9} {"util",6} {"spearman",9} {"uniform",8} {"hypervol",9}");
        foreach (ControllabilityReport r in new[] { Search, Baseline })
            sb.AppendLine(ci, $"{r.Controller,-14} {r.BudgetAdherence,9:F3} {r.MeanBudgetUtilisation,6:F3} {r.MeanSpearman,9:F3} {r.MeanUniformity,8:F3} {r.MeanHypervolume,9:F4}");
        return sb.ToString();
    }
}
