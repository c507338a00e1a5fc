namespace MLNetSlim.Control;

/// <summary>Tuning knobs of <see cref="ConfigurationSearch"/>. The defaults suit up to ~20 tasks x 4 widths.</summary>
public sealed record SearchOptions
{
    /// <summary>Stage 2 (and stage 1) are solved by exact enumeration when #widths^#tasks is at most this (default
    /// 4096), otherwise by the grid knapsack DP.</summary>
    public int EnumerationLimit { get; init; } = 4096;

    /// <summary>Grid cells of the per-query stage-2 knapsack DP (default 2048). Costs are rounded UP to the grid, so
    /// the answer is always feasible; it is optimal for a capacity at most #tasks cells smaller than the true one.</summary>
    public int GridCells { get; init; } = 2048;

    /// <summary>Grid cells of the stage-1 table precomputed per encoder option when enumeration is too large (default 8192).</summary>
    public int Stage1GridCells { get; init; } = 8192;

    /// <summary>epsilon in g_t(e, d) = curve_t(e, d) + epsilon * d (<see cref="DecoderGainModel"/>), which makes stage 2's
    /// per-task value strictly increasing in the width even where two widths have equal curve values (default 1e-6,
    /// fraction of full performance, or of the normalised range, per width step).</summary>
    public double MonotoneEpsilon { get; init; } = 1e-6;

    /// <summary>
    /// Stage 1's tolerance tau, in mean relative performance (fraction of full performance, averaged over tasks; default
    /// 0.005, half a point): the encoder options whose best equal-weight value V_e(B) is within tau of the best one are
    /// candidates, and of them the search prefers one that leaves the decoders room (at least one decoder can take a
    /// wider width within the budget while the others stay at their narrowest, so preferences can act), then the larger
    /// V_e(B), then the larger encoder. 0: only encoders tied with the best V_e(B) are candidates. Must be in [0, 0.1].
    /// </summary>
    public double EncoderTolerance { get; init; } = 0.005;

    /// <summary>
    /// Stage 2's per-task value (default true): task t's gain curve (<see cref="DecoderGainModel"/>) rescaled to [0, 1]
    /// over its decoder widths at the chosen encoder e*, (curve_t(e*, d) - curve_t(e*, narrowest)) / (curve_t(e*, widest) -
    /// curve_t(e*, narrowest)), plus epsilon d. A preference then weighs what widening that task's decoder can buy at e*
    /// on a common scale, so a task whose accuracy moves little with its decoder width is not starved of decoder budget
    /// when it is the preferred one (the paper's rule holds more often; docs/control.md). false: the curve of the raw
    /// relative performance. Either value is a strictly increasing per-task function of the width, so the
    /// monotonicity guarantee holds for both.
    /// </summary>
    public bool NormalizeDecoderGains { get; init; } = true;

    /// <summary>
    /// The curve stage 2 reads each task's gain from (default <see cref="Control.DecoderGainModel.SaturatingFit"/>: a
    /// least-squares saturating fit in the decoder's MACs, which smooths the calibration's sampling noise and is concave,
    /// so a preference slider reaches many budget splits; <see cref="Control.DecoderGainModel.MonotoneEnvelope"/>: the
    /// envelope of the calibrated points, the search before issue 12). Both are strictly increasing in the width, so the
    /// monotonicity guarantee holds for either; stage 1 reads the calibrated points and ignores this.
    /// </summary>
    public DecoderGainModel DecoderGainModel { get; init; } = DecoderGainModel.SaturatingFit;

    /// <summary>The Pareto front is exact (all configurations enumerated) when #encoder options x #widths^#tasks is at
    /// most this (default 20000); otherwise it is restricted to the stage-1 encoder and a preference sweep.</summary>
    public int ParetoEnumerationLimit { get; init; } = 20000;

    /// <summary>Random preference vectors (Dirichlet(1), fixed seed) in the approximate Pareto sweep (default 64).</summary>
    public int ParetoPreferenceSamples { get; init; } = 64;

    internal void Validate()
    {
        if (EnumerationLimit < 0) throw new ArgumentOutOfRangeException(nameof(EnumerationLimit), EnumerationLimit, "Must be non-negative.");
        if (GridCells < 16 || GridCells > 1 << 20) throw new ArgumentOutOfRangeException(nameof(GridCells), GridCells, "Must be in [16, 2^20].");
        if (Stage1GridCells < 16 || Stage1GridCells > 1 << 22) throw new ArgumentOutOfRangeException(nameof(Stage1GridCells), Stage1GridCells, "Must be in [16, 2^22].");
        if (!(MonotoneEpsilon > 0) || MonotoneEpsilon > 1e-3) throw new ArgumentOutOfRangeException(nameof(MonotoneEpsilon), MonotoneEpsilon, "Must be in (0, 1e-3].");
        if (!(EncoderTolerance >= 0) || EncoderTolerance > 0.1) throw new ArgumentOutOfRangeException(nameof(EncoderTolerance), EncoderTolerance, "Must be in [0, 0.1].");
        if (!Enum.IsDefined(DecoderGainModel)) throw new ArgumentOutOfRangeException(nameof(DecoderGainModel), DecoderGainModel, "Not a DecoderGainModel value.");
        if (ParetoEnumerationLimit < 0) throw new ArgumentOutOfRangeException(nameof(ParetoEnumerationLimit), ParetoEnumerationLimit, "Must be non-negative.");
        if (ParetoPreferenceSamples < 0) throw new ArgumentOutOfRangeException(nameof(ParetoPreferenceSamples), ParetoPreferenceSamples, "Must be non-negative.");
    }
}
