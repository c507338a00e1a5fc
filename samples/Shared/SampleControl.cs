using System.Globalization;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Model;

namespace MLNetSlim.Samples;

/// <summary>Budget and task-weight text as the samples read and print it (compiled into each sample).</summary>
internal static class SampleControl
{
    /// <summary>Budget help text shared by the command lines.</summary>
    public const string BudgetHelp = "Compute budget: 0.5 or 50% (fraction of the full network's MACs), 1.2e7macs (MACs per image) " +
                                     "or 3ms (predicted latency on this machine). Default: the budget saved with the model (full).";

    /// <summary>Weights help text shared by the command lines.</summary>
    public const string WeightsHelp = "Task weights, no spaces: digit=0.8,fashion=0.2 (':' also works); unlisted tasks weigh 0.";

    /// <summary>"50% of full MACs", "12,000,000 MACs" or "3 ms", numbers rounded for reading.</summary>
    public static string Describe(Budget budget) => budget.Unit switch
    {
        BudgetUnit.FractionOfFullMacs => $"{Round(budget.Value * 100)}% of full MACs",
        BudgetUnit.Macs => $"{budget.Value.ToString("N0", CultureInfo.InvariantCulture)} MACs",
        _ => $"{Round(budget.Value)} ms",
    };

    /// <summary>Like <see cref="Describe(Budget)"/>, with the amount rounded UP to three significant digits, so that the
    /// text typed back is still feasible: "6.39% of full MACs (0.0639)", "2,090,000 MACs", "0.523 ms".</summary>
    public static string DescribeRoundedUp(Budget budget)
    {
        double up = RoundUp(budget.Value);
        return budget.Unit switch
        {
            BudgetUnit.FractionOfFullMacs => $"{up.ToString("0.####", CultureInfo.InvariantCulture)} of full MACs ({RoundUp(budget.Value * 100).ToString("0.##", CultureInfo.InvariantCulture)}%)",
            BudgetUnit.Macs => $"{up.ToString("N0", CultureInfo.InvariantCulture)} MACs",
            _ => $"{up.ToString("0.####", CultureInfo.InvariantCulture)} ms",
        };
    }

    private static double RoundUp(double value)
    {
        if (!(value > 0) || double.IsInfinity(value)) return value;
        double scale = Math.Pow(10, 2 - Math.Floor(Math.Log10(value)));
        double up = Math.Ceiling(value * scale - 1e-9) / scale;
        return up < value ? Math.Ceiling(value * scale) / scale : up;
    }

    /// <summary>"digit=0.8, fashion=0.2".</summary>
    public static string Describe(IReadOnlyDictionary<string, double> weights) =>
        string.Join(", ", weights.Select(w => $"{w.Key}={Round(w.Value)}"));

    /// <summary>The configuration's predicted latency when the budget is in milliseconds (measured on this machine), else null.</summary>
    public static double? PredictedMilliseconds(ControllableMultiTaskTransformer network) =>
        network.Budget.Unit == BudgetUnit.Milliseconds && network.Model is ControllableMultiTaskModel model
            ? model.MeasureLatency().PredictMs(network.Configuration)
            : null;

    /// <summary>A number rounded for reading (about three significant digits), invariant culture.</summary>
    public static string Round(double value)
    {
        double a = Math.Abs(value);
        string format = a >= 100 ? "0" : a >= 1 ? "0.##" : a >= 0.001 ? "0.###" : "G3";
        return value.ToString(format, CultureInfo.InvariantCulture);
    }
}
