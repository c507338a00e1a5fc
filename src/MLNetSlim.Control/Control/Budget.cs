using System.Globalization;

namespace MLNetSlim.Control;

/// <summary>The unit of a <see cref="Budget"/>.</summary>
public enum BudgetUnit
{
    /// <summary>A fraction of the full configuration's MACs, in (0, 1].</summary>
    FractionOfFullMacs = 0,

    /// <summary>Absolute multiply-accumulates per image.</summary>
    Macs = 1,

    /// <summary>Measured latency of one forward pass, in milliseconds, on this machine (see the latency table).</summary>
    Milliseconds = 2,
}

/// <summary>
/// A compute budget for runtime control (ECMT, ICCV 2023): the search returns the best configuration whose cost is at
/// most this budget. Immutable.
/// </summary>
public readonly record struct Budget
{
    private Budget(BudgetUnit unit, double value)
    {
        if (!(value > 0) || double.IsInfinity(value))
            throw new ArgumentOutOfRangeException(nameof(value), value,
                $"A budget in {UnitText(unit)} must be a positive finite number, got {value.ToString(CultureInfo.InvariantCulture)}.");
        if (unit == BudgetUnit.FractionOfFullMacs && value > 1)
            throw new ArgumentOutOfRangeException(nameof(value), value,
                $"A budget as a fraction of the full network's MACs must be in (0, 1], got {value.ToString(CultureInfo.InvariantCulture)}.");
        Unit = unit;
        Value = value;
    }

    /// <summary>The unit.</summary>
    public BudgetUnit Unit { get; }

    /// <summary>The amount, in <see cref="Unit"/>.</summary>
    public double Value { get; }

    /// <summary>The whole network: a fraction of 1.0 of full MACs.</summary>
    public static Budget Full => new(BudgetUnit.FractionOfFullMacs, 1.0);

    /// <summary>A fraction of the full configuration's MACs.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not in (0, 1].</exception>
    public static Budget FractionOfFull(double fraction) => new(BudgetUnit.FractionOfFullMacs, fraction);

    /// <summary>Absolute MACs per image.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not positive.</exception>
    public static Budget Macs(double macs) => new(BudgetUnit.Macs, macs);

    /// <summary>Latency in milliseconds per forward pass.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not positive.</exception>
    public static Budget Milliseconds(double ms) => new(BudgetUnit.Milliseconds, ms);

    /// <summary>Parses "0.5" (fraction), "50%" (fraction), "1.2e6macs" / "1200000 MACs" (absolute) or "3ms".</summary>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    /// <exception cref="FormatException">Not one of those forms, or a value out of range; a bare number above 1 such as
    /// "50" is read as a fraction, and the message asks whether "50%" was meant.</exception>
    public static Budget Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string s = text.Trim().ToLowerInvariant().Replace(" ", "", StringComparison.Ordinal);
        static double Num(string t, string all) => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
            ? v : throw new FormatException($"Budget '{all}' is not a number followed by nothing (fraction of full MACs), '%', 'macs' or 'ms'.");
        (BudgetUnit unit, double value) = s.EndsWith("macs", StringComparison.Ordinal) ? (BudgetUnit.Macs, Num(s[..^4], text))
            : s.EndsWith("ms", StringComparison.Ordinal) ? (BudgetUnit.Milliseconds, Num(s[..^2], text))
            : s.EndsWith('%') ? (BudgetUnit.FractionOfFullMacs, Num(s[..^1], text) / 100)
            : (BudgetUnit.FractionOfFullMacs, Num(s, text));
        if (!(value > 0)) throw new FormatException($"Budget '{text}' must be positive.");
        if (unit == BudgetUnit.FractionOfFullMacs && value > 1)
            throw new FormatException(s.EndsWith('%')
                ? $"Budget '{text}' is more than 100% of the full network."
                : $"Budget '{text}' is a fraction of the full network's MACs and must be at most 1"
                  + (value <= 100 ? $"; did you mean {text.Trim()}%?" : "; for absolute MACs write e.g. 1.2e7macs."));
        return new Budget(unit, value);
    }

    /// <summary>The unit in words: "fraction of full MACs", "MACs" or "milliseconds".</summary>
    internal static string UnitText(BudgetUnit unit) => unit switch
    {
        BudgetUnit.FractionOfFullMacs => "fraction of full MACs",
        BudgetUnit.Macs => "MACs",
        _ => "milliseconds",
    };

    /// <summary>"0.5 of full MACs", "1200000 MACs" or "3 ms".</summary>
    public override string ToString() => Unit switch
    {
        BudgetUnit.FractionOfFullMacs => $"{Value.ToString(CultureInfo.InvariantCulture)} of full MACs",
        BudgetUnit.Macs => $"{Value.ToString("0", CultureInfo.InvariantCulture)} MACs",
        _ => $"{Value.ToString(CultureInfo.InvariantCulture)} ms",
    };
}
