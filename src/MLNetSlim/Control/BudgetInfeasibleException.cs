namespace MLNetSlim.Control;

/// <summary>
/// The requested budget is below the cost of the cheapest configuration the controller can choose. The message and
/// <see cref="SmallestFeasible"/> give the smallest feasible budget in the unit of the request.
/// </summary>
public sealed class BudgetInfeasibleException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="requested">The budget asked for.</param>
    /// <param name="smallestFeasible">The smallest budget that can be met, in the same unit.</param>
    /// <param name="detail">Extra text appended to the message (e.g. the MACs equivalent).</param>
    public BudgetInfeasibleException(Budget requested, Budget smallestFeasible, string? detail = null)
        : base($"Budget {(requested.Unit == BudgetUnit.Macs ? requested.Value.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) + " MACs" : requested.ToString())} is below the cost of the cheapest configuration; the smallest feasible budget is {Format(smallestFeasible)}{detail}.", "budget")
    {
        Requested = requested;
        SmallestFeasible = smallestFeasible;
    }

    /// <summary>Re-raises <paramref name="inner"/> with <paramref name="message"/> (e.g. naming the data column and the
    /// row that asked for the budget), keeping <see cref="Requested"/> and <see cref="SmallestFeasible"/>.</summary>
    /// <param name="message">The full message.</param>
    /// <param name="inner">The search's exception.</param>
    public BudgetInfeasibleException(string message, BudgetInfeasibleException inner)
        : base(message, (inner ?? throw new ArgumentNullException(nameof(inner))).ParamName, inner)
    {
        Requested = inner.Requested;
        SmallestFeasible = inner.SmallestFeasible;
    }

    /// <summary>The budget that was asked for.</summary>
    public Budget Requested { get; }

    /// <summary>The smallest feasible budget, in <see cref="Requested"/>'s unit; passing it back succeeds.</summary>
    public Budget SmallestFeasible { get; }

    /// <summary>The smallest feasible budget for reading: three significant digits, rounded UP, so that passing the
    /// printed value back is feasible too (the exact value is <see cref="SmallestFeasible"/>).</summary>
    private static string Format(Budget b)
    {
        double up = RoundUp(b.Value);
        string number = up.ToString(up >= 1000 ? "N0" : "0.####", System.Globalization.CultureInfo.InvariantCulture);
        return b.Unit switch
        {
            BudgetUnit.FractionOfFullMacs => number + " of full MACs",
            BudgetUnit.Macs => number + " MACs",
            _ => number + " ms",
        };
    }

    private static double RoundUp(double value)
    {
        if (!(value > 0) || double.IsInfinity(value)) return value;
        double scale = Math.Pow(10, 2 - Math.Floor(Math.Log10(value)));
        double up = Math.Ceiling(value * scale - 1e-9) / scale;
        return up < value ? value : up;
    }
}
