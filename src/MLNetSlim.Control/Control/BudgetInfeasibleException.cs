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
        : base($"Budget {requested} is below the cost of the cheapest configuration; the smallest feasible budget is {Format(smallestFeasible)}{detail}.", "budget")
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

    private static string Format(Budget b) => b.Unit switch
    {
        BudgetUnit.FractionOfFullMacs => b.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + " of full MACs",
        BudgetUnit.Macs => b.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + " MACs",
        _ => b.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + " ms",
    };
}
