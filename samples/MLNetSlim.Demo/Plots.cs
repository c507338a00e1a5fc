using ScottPlot;

namespace MLNetSlim.Demo;

/// <summary>The demo's two PNG plots (ScottPlot 5).</summary>
public static class Plots
{
    private static readonly MarkerShape[] Markers = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond];

    private static Color TaskColor(int t) => new ScottPlot.Palettes.Category10().GetColor(t);

    /// <summary>
    /// Per-task test accuracy (%) vs MACs (millions per image) for every configuration of the space, with each task's
    /// accuracy/MACs Pareto front as a step line.
    /// </summary>
    public static void AccuracyVsMacs(string path, ConfigurationSpaceSection space, IReadOnlyList<string> tasks)
    {
        var plot = new Plot();
        for (int t = 0; t < tasks.Count; t++)
        {
            int task = t;
            double[] xs = space.Points.Select(p => p.Macs / 1e6).ToArray();
            double[] ys = space.Points.Select(p => 100 * p.Metrics[task]).ToArray();
            var dots = plot.Add.ScatterPoints(xs, ys, TaskColor(t).WithAlpha(0.55));
            dots.MarkerShape = Markers[t % Markers.Length];
            dots.MarkerSize = 6;
            dots.LegendText = $"{tasks[t]}: all {space.Count} configurations";

            IReadOnlyList<ConfigurationPoint> front = ConfigurationSpace.ParetoFront(space.Points, p => p.Macs, p => p.Metrics[task]);
            var line = plot.Add.Scatter(front.Select(p => p.Macs / 1e6).ToArray(), front.Select(p => 100 * p.Metrics[task]).ToArray(), TaskColor(t));
            line.ConnectStyle = ConnectStyle.StepHorizontal;
            line.LineWidth = 2;
            line.MarkerSize = 8;
            line.MarkerShape = Markers[t % Markers.Length];
            line.LegendText = $"{tasks[t]}: Pareto front ({front.Count} configurations)";
        }
        plot.Title($"Multi-(Fashion+MNIST): per-task test accuracy vs compute, {space.Count} width configurations");
        plot.XLabel("MACs per image (millions)");
        plot.YLabel($"test accuracy (%, {space.TestImages} test images)");
        plot.ShowLegend(Alignment.LowerRight);
        plot.SavePng(path, 1100, 700);
    }

    /// <summary>
    /// One panel per budget (stacked): each task's test accuracy (%) and the chosen decoder widths vs the first task's
    /// preference.
    /// </summary>
    public static void PreferenceControl(string path, IReadOnlyList<BudgetSweep> sweeps, IReadOnlyList<string> tasks)
    {
        var multiplot = new Multiplot();
        for (int i = 0; i < sweeps.Count; i++)
        {
            Plot plot = PreferencePanel(sweeps[i].Rows, tasks, sweeps[i].Budget);
            if (i == 0) multiplot.Reset(plot);
            else multiplot.AddPlot(plot);
        }
        multiplot.SavePng(path, 1100, 600 * sweeps.Count);
    }

    private static Plot PreferencePanel(IReadOnlyList<SweepRow> sweep, IReadOnlyList<string> tasks, double budget)
    {
        var plot = new Plot();
        double[] xs = sweep.Select(r => r.FirstTaskPreference).ToArray();
        for (int t = 0; t < tasks.Count; t++)
        {
            string task = tasks[t];
            var acc = plot.Add.Scatter(xs, sweep.Select(r => 100 * r.TestAccuracy[task]).ToArray(), TaskColor(t));
            acc.LineWidth = 2;
            acc.MarkerSize = 7;
            acc.MarkerShape = Markers[t % Markers.Length];
            acc.LegendText = $"{task} test accuracy (left axis)";

            int k = t;
            var width = plot.Add.Scatter(xs, sweep.Select(r => r.DecoderWidths[k]).ToArray(), TaskColor(t));
            width.ConnectStyle = ConnectStyle.StepHorizontal;
            width.LinePattern = LinePattern.Dashed;
            width.LineWidth = 2;
            width.MarkerSize = 5;
            width.MarkerShape = MarkerShape.OpenCircle;
            width.LegendText = $"{task} decoder width (right axis)";
            width.Axes.YAxis = plot.Axes.Right;
        }
        var enc = plot.Add.Scatter(xs, sweep.Select(r => r.EncoderWidth).ToArray(), Colors.Gray);
        enc.ConnectStyle = ConnectStyle.StepHorizontal;
        enc.LinePattern = LinePattern.Dotted;
        enc.LineWidth = 2;
        enc.MarkerSize = 0;
        enc.LegendText = "encoder width (right axis)";
        enc.Axes.YAxis = plot.Axes.Right;

        string budgetText = (100 * budget).ToString("0", System.Globalization.CultureInfo.InvariantCulture);
        int distinct = sweep.Select(r => r.Configuration).Distinct(StringComparer.Ordinal).Count();
        plot.Title($"Preference control at a budget of {budgetText} % of the full network's MACs ({distinct} configurations)");
        plot.XLabel($"preference for {tasks[0]} (p_{tasks[0]}; {(tasks.Count == 2 ? $"p_{tasks[1]} = 1 - p_{tasks[0]}" : "the rest shared equally")})");
        plot.YLabel("test accuracy (%)");
        plot.Axes.Right.Label.Text = "width multiplier";
        plot.Axes.Right.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(0.25);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(0.1);
        plot.Axes.SetLimitsY(-0.05, 1.1, plot.Axes.Right);
        plot.Axes.SetLimitsX(-0.05, 1.05);
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    /// <summary>
    /// Dense benchmark: each task's primary test metric relative to the full configuration (M / M_full when higher is
    /// better, M_full / M for RMSE; 1 = full network) vs MACs, every configuration with each task's Pareto front.
    /// </summary>
    public static void RelativeMetricVsMacs(string path, ConfigurationSpaceSection space, IReadOnlyList<Architecture.TaskDefinition> tasks,
        IReadOnlyList<double> full)
    {
        var plot = new Plot();
        for (int t = 0; t < tasks.Count; t++)
        {
            int task = t;
            double Rel(ConfigurationPoint p) => tasks[task].HigherIsBetter ? p.Metrics[task] / full[task] : full[task] / p.Metrics[task];
            var dots = plot.Add.ScatterPoints(space.Points.Select(p => p.Macs / 1e6).ToArray(), space.Points.Select(Rel).ToArray(), TaskColor(t).WithAlpha(0.45));
            dots.MarkerShape = Markers[t % Markers.Length];
            dots.MarkerSize = 5;
            dots.LegendText = $"{tasks[t].Name} ({tasks[t].PrimaryMetric}): all {space.Count} configurations";
            IReadOnlyList<ConfigurationPoint> front = ConfigurationSpace.ParetoFront(space.Points, p => p.Macs, Rel);
            var line = plot.Add.Scatter(front.Select(p => p.Macs / 1e6).ToArray(), front.Select(Rel).ToArray(), TaskColor(t));
            line.ConnectStyle = ConnectStyle.StepHorizontal;
            line.LineWidth = 2;
            line.MarkerSize = 7;
            line.MarkerShape = Markers[t % Markers.Length];
            line.LegendText = $"{tasks[t].Name}: Pareto front ({front.Count})";
        }
        plot.Title($"Composed scenes: per-task test metric relative to the full network vs compute, {space.Count} configurations");
        plot.XLabel("MACs per image (millions)");
        plot.YLabel($"relative performance (1 = full network; {space.TestImages} test scenes)");
        plot.ShowLegend(Alignment.LowerRight);
        plot.SavePng(path, 1100, 700);
    }
}
