namespace MLNetSlim.Control;

/// <summary>How stage 2 of <see cref="ConfigurationSearch"/> turns a task's calibrated relative performance over its
/// decoder widths (at one encoder option) into the per-task value it maximises.</summary>
public enum DecoderGainModel
{
    /// <summary>
    /// Least-squares fit of the saturating curve P(m) = a - b (m / m_max)^(-gamma) (b &gt; 0, gamma &gt; 0) to the
    /// calibrated points, with m the decoder's MACs at that width and m_max its MACs at the widest: strictly
    /// increasing and concave in the decoder's MACs. The power-law form is the one accuracy follows in model size in
    /// scaling studies (Hestness et al. 2017, "Deep Learning Scaling is Predictable, Empirically"; Rosenfeld et al.,
    /// ICLR 2020). Why: neighbouring fine widths differ by less than the calibration's sampling noise, so the raw
    /// points zig-zag; a monotone envelope of them is a staircase whose few corners are all a linear objective can
    /// reach (docs/control.md section 5). The fit removes the noise and, being concave, lets each preference ratio
    /// reach its own budget split. Falls back to <see cref="MonotoneEnvelope"/> for a task whose points do not
    /// increase (no fit with b &gt; 0) or with fewer than 3 widths.
    /// </summary>
    SaturatingFit,

    /// <summary>The monotone envelope max_{d' &lt;= d} P_t(e, d') of the calibrated points (the search before issue 12).</summary>
    MonotoneEnvelope,
}

/// <summary>The per-task stage-2 curves of <see cref="DecoderGainModel"/> (docs/control.md section 2).</summary>
internal static class DecoderGainCurve
{
    /// <summary>Exponents gamma tried by the fit: 64 values, log-spaced over [1/64, 4].</summary>
    internal static readonly double[] Exponents =
        Enumerable.Range(0, 64).Select(i => Math.Exp(Math.Log(1.0 / 64) + i * (Math.Log(4) - Math.Log(1.0 / 64)) / 63)).ToArray();

    /// <summary>The monotone envelope max_{d' &lt;= d} values[d'].</summary>
    public static double[] Envelope(IReadOnlyList<double> values)
    {
        var env = new double[values.Count];
        double m = double.NegativeInfinity;
        for (int d = 0; d < env.Length; d++) env[d] = m = Math.Max(m, values[d]);
        return env;
    }

    /// <summary>
    /// The least-squares saturating fit a - b (m_d / m_max)^(-gamma) of <paramref name="values"/> over the decoder costs
    /// <paramref name="macs"/> (ascending, positive), over <see cref="Exponents"/> with the closed-form (a, b) for each;
    /// null when no exponent gives b &gt; 0, when there are fewer than 3 points or when the costs are not positive.
    /// </summary>
    public static double[]? SaturatingFit(IReadOnlyList<long> macs, IReadOnlyList<double> values)
    {
        int n = values.Count;
        if (n < 3 || macs.Count != n) return null;
        double mMax = macs.Max();
        if (macs.Any(m => m <= 0)) return null;
        double yMean = values.Average();
        var z = new double[n];
        double bestSse = double.PositiveInfinity, bestA = 0, bestB = 0, bestGamma = 0;
        foreach (double gamma in Exponents)
        {
            for (int d = 0; d < n; d++) z[d] = -Math.Pow(macs[d] / mMax, -gamma);
            double zMean = z.Average(), szz = 0, szy = 0;
            for (int d = 0; d < n; d++)
            {
                szz += (z[d] - zMean) * (z[d] - zMean);
                szy += (z[d] - zMean) * (values[d] - yMean);
            }
            if (!(szz > 0)) continue;
            double b = szy / szz;
            if (!(b > 0)) continue;
            double a = yMean - b * zMean, sse = 0;
            for (int d = 0; d < n; d++) sse += Math.Pow(values[d] - a - b * z[d], 2);
            if (sse < bestSse) (bestSse, bestA, bestB, bestGamma) = (sse, a, b, gamma);
        }
        if (double.IsPositiveInfinity(bestSse)) return null;
        return macs.Select(m => bestA - bestB * Math.Pow(m / mMax, -bestGamma)).ToArray();
    }
}
