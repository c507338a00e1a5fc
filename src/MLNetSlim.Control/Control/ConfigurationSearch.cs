using System.Numerics;
using System.Runtime.InteropServices;
using MLNetSlim.Architecture;

namespace MLNetSlim.Control;

/// <summary>
/// The ECMT runtime controller (Aich et al., "Efficient Controllable Multi-Task Architectures", ICCV 2023): turns a
/// compute budget and task preferences into a width configuration, without retraining, from a
/// <see cref="CalibrationTable"/> and the exact separable cost (<see cref="CostTable"/>, or a <see cref="LatencyTable"/>
/// for millisecond budgets). The abstract's rule — "provide a larger computational budget to the higher preferred task
/// decoder, while searching a shared encoder configuration that enhances the overall MTL performance" — is made
/// precise as a two-stage search (our formulation; the paper's body is not available, see docs/control.md):
/// <list type="number">
/// <item><b>Stage 1 (encoder, budget only).</b> e* = argmax_e V_e(B), V_e(B) = max over decoder widths of
/// (1/T) sum_t P_t(e, d_t) subject to cost(e, d) &lt;= B: the encoder with the best achievable EQUAL-weight mean
/// relative performance within the budget. Ties (within 1e-12) go to the larger encoder (more encoder MACs). e*
/// depends on the budget only, not on the preferences.</item>
/// <item><b>Stage 2 (decoders, preferences).</b> At e*, d* = argmax sum_t p_t g_t(e*, d_t) subject to
/// cost(e*, d) &lt;= B, where g_t(e, d) (<see cref="DecoderGain"/>) is task t's gain curve over its decoder widths — by
/// default a least-squares saturating fit a - b m^(-gamma) of the calibration in the decoder's MACs m
/// (<see cref="SearchOptions.DecoderGainModel"/>), or the monotone envelope max_{d' &lt;= d} P_t(e, d') — normalised to
/// [0, 1] over the widths (<see cref="SearchOptions.NormalizeDecoderGains"/>), plus epsilon d (<see cref="SearchOptions.MonotoneEpsilon"/>):
/// strictly increasing in the width. Exact ties of this objective are broken by the larger
/// sum_t g_t(e*, d_t) (so zero-preference tasks get whatever budget the others cannot use), then by the cheaper
/// configuration (enumeration) or the smaller width of the later task (DP) — deterministic in both cases.</item>
/// </list>
/// <para><b>Guarantees.</b> (1) Never over budget: every returned configuration has cost &lt;= capacity, checked
/// exactly (MACs are integers summed exactly in doubles). (2) Monotone control: at a fixed budget, raising one task's
/// preference never lowers its decoder width. Proof (exchange argument): e* does not depend on p. Let d be an optimum
/// for weights p and d' one for p' = p + delta e_k (delta &gt; 0; normalisation scales all weights by one positive
/// constant and does not change the argmax), over the same feasible set. Write J_p(x) = sum_t p_t f_t(x_t), f = g.
/// Optimality gives J_p(d) &gt;= J_p(d') and J_p(d') + delta f_k(d'_k) = J_p'(d') &gt;= J_p'(d) = J_p(d) + delta f_k(d_k).
/// Adding: delta f_k(d'_k) &gt;= delta f_k(d_k), and since f_k is strictly increasing, d'_k &gt;= d_k. The argument
/// only uses that d and d' are exact maximisers of the primary objective over one feasible set, so it holds for any
/// tie-breaking, and for the grid DP too (its feasible set, costs rounded up on a grid fixed by B and e*, is the same
/// for p and p'). Floating-point rounding of near-ties (~1e-16) is the only caveat.</para>
/// <para><b>Solvers.</b> If #widths^#tasks &lt;= <see cref="SearchOptions.EnumerationLimit"/>, both stages enumerate
/// the configurations of each encoder option, precomputed at construction and sorted by cost (a query is a binary
/// search for stage 1 and a scan for stage 2). Otherwise stage 1 reads a per-encoder table built at construction by
/// a multiple-choice knapsack DP over costs rounded UP to a grid of <see cref="SearchOptions.Stage1GridCells"/> cells,
/// and stage 2 runs a multiple-choice knapsack DP per query over the decoder costs in excess of each decoder's
/// cheapest width, rounded UP to a grid of <see cref="SearchOptions.GridCells"/> cells spanning the remaining
/// capacity. Rounding up keeps every DP answer feasible; it is optimal for a capacity at most T grid cells smaller.
/// The DP computes each task's row only up to the grid cost the tasks so far can reach, vectorised over grid cells: at
/// most T x cells x W cell updates, bit-identical to the plain loop (see Knapsack).</para>
/// <para>Thread-safe for concurrent queries.</para>
/// </summary>
public sealed class ConfigurationSearch : IConfigurationController
{
    private readonly SearchOptions _options;
    private readonly double[][][] _p; // raw P [e][t][d]
    private readonly double[][][] _f; // g   [e][t][d] (stage 2 per-task value)
    private readonly bool _enumerate;
    private readonly int[] _encoderOrder; // ascending "size": (encoder MACs, index)
    private readonly ModelIndex _macIndex;
    private readonly ModelIndex? _msIndex;

    [ThreadStatic] private static Scratch? t_scratch;

    /// <summary>Creates the controller and precomputes everything that depends only on the tables.</summary>
    /// <param name="costs">The network's exact MAC costs.</param>
    /// <param name="calibration">The network's calibration (same tasks, width set and encoder options).</param>
    /// <param name="latency">Optional latency table, required for <see cref="BudgetUnit.Milliseconds"/> budgets.</param>
    /// <param name="options">Solver options; null for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="costs"/> or <paramref name="calibration"/> is null.</exception>
    /// <exception cref="ArgumentException">The tables do not match each other.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public ConfigurationSearch(CostTable costs, CalibrationTable calibration, LatencyTable? latency = null, SearchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(costs);
        ArgumentNullException.ThrowIfNull(calibration);
        calibration.EnsureMatches(costs);
        if (latency is not null && !ReferenceEquals(latency.Costs, costs) && (latency.Costs.TaskCount != costs.TaskCount
            || latency.Costs.EncoderOptionCount != costs.EncoderOptionCount || !latency.Costs.DecoderWidths.Equals(costs.DecoderWidths)))
            throw new ArgumentException("The latency table was built for a different network.", nameof(latency));
        _options = options ?? new SearchOptions();
        _options.Validate();
        Costs = costs;
        Calibration = calibration;
        Latency = latency;
        int eCount = costs.EncoderOptionCount, tCount = costs.TaskCount, wCount = costs.DecoderWidths.Count;
        _p = new double[eCount][][];
        _f = new double[eCount][][];
        for (int e = 0; e < eCount; e++)
        {
            _p[e] = new double[tCount][];
            _f[e] = new double[tCount][];
            for (int t = 0; t < tCount; t++)
            {
                _p[e][t] = new double[wCount];
                _f[e][t] = new double[wCount];
                for (int d = 0; d < wCount; d++) _p[e][t][d] = calibration.Relative(t, e, d);
                long[] decoderMacs = Enumerable.Range(0, wCount).Select(d => costs.DecoderMacs(t, e, d)).ToArray();
                double[] curve = (_options.DecoderGainModel == DecoderGainModel.SaturatingFit
                    ? DecoderGainCurve.SaturatingFit(decoderMacs, _p[e][t]) : null) ?? DecoderGainCurve.Envelope(_p[e][t]);
                // Normalised: each task's gain over its decoder widths at this encoder, scaled to [0, 1].
                double lo = curve[0], range = curve[wCount - 1] - lo;
                for (int d = 0; d < wCount; d++)
                {
                    double value = _options.NormalizeDecoderGains ? (range > 0 ? (curve[d] - lo) / range : 0) : curve[d];
                    _f[e][t][d] = value + _options.MonotoneEpsilon * d;
                }
            }
        }
        _enumerate = wCount <= ushort.MaxValue + 1 && Math.Pow(wCount, tCount) <= _options.EnumerationLimit;
        _encoderOrder = Enumerable.Range(0, eCount).OrderBy(e => costs.EncoderMacs(e)).ThenBy(e => e).ToArray();
        _macIndex = new ModelIndex(this, new CostModel(costs, null));
        _msIndex = latency is null ? null : new ModelIndex(this, new CostModel(costs, latency));
    }

    /// <inheritdoc />
    public string Name => "ecmt-search";

    /// <inheritdoc />
    public CostTable Costs { get; }

    /// <inheritdoc />
    public CalibrationTable Calibration { get; }

    /// <inheritdoc />
    public LatencyTable? Latency { get; }

    /// <summary>True when queries are answered by exact enumeration, false when by the grid knapsack DP.</summary>
    public bool UsesEnumeration => _enumerate;

    /// <summary>g_t(e, d): the per-task value stage 2 maximises — task t's gain curve at encoder option e
    /// (<see cref="SearchOptions.DecoderGainModel"/>), normalised to [0, 1] over its decoder widths when
    /// <see cref="SearchOptions.NormalizeDecoderGains"/>, plus epsilon d.</summary>
    /// <exception cref="IndexOutOfRangeException">An index is out of range.</exception>
    public double DecoderGain(int task, int encoderOption, int decoderWidthIndex) => _f[encoderOption][task][decoderWidthIndex];

    /// <summary>The smallest budget any query in <paramref name="unit"/> can meet (the cheapest configuration's cost).</summary>
    /// <exception cref="InvalidOperationException">Milliseconds without a latency table.</exception>
    public Budget SmallestFeasibleBudget(BudgetUnit unit)
    {
        ModelIndex idx = IndexFor(unit);
        return idx.Model.Infeasible(unit switch
        {
            BudgetUnit.FractionOfFullMacs => Budget.FractionOfFull(1),
            BudgetUnit.Macs => Budget.Macs(1),
            _ => Budget.Milliseconds(1),
        }, idx.Model.Smallest).SmallestFeasible;
    }

    /// <summary>Stage 1 alone: the encoder option chosen for <paramref name="budget"/> (independent of preferences).</summary>
    /// <exception cref="BudgetInfeasibleException">The budget is below the cheapest configuration.</exception>
    /// <exception cref="InvalidOperationException">Milliseconds without a latency table.</exception>
    public int SelectEncoder(Budget budget)
    {
        ModelIndex idx = IndexFor(budget.Unit);
        double capacity = CheckedCapacity(idx, budget);
        return idx.SelectEncoder(capacity);
    }

    /// <summary>Chooses a configuration for a budget and preferences by task name (tasks not named get weight 0).</summary>
    /// <param name="budget">Compute budget (fraction of full MACs, MACs, or ms).</param>
    /// <param name="preferences">Non-negative weights by task name; normalised to sum 1.</param>
    /// <exception cref="BudgetInfeasibleException">The budget is below the cheapest configuration; the message states
    /// the smallest feasible budget in the request's unit.</exception>
    /// <exception cref="ArgumentException">Unknown task name (the message lists the tasks).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative, NaN or infinite weight, or all weights zero.</exception>
    /// <exception cref="InvalidOperationException">A millisecond budget without a latency table.</exception>
    public SearchResult Search(Budget budget, IReadOnlyDictionary<string, double> preferences) =>
        SearchNormalized(budget, TaskPreferences.Normalize(preferences, Costs.TaskNames));

    /// <summary>Chooses a configuration for a budget and preferences in task order.</summary>
    /// <param name="budget">Compute budget (fraction of full MACs, MACs, or ms).</param>
    /// <param name="preferences">One non-negative weight per task; normalised to sum 1.</param>
    /// <exception cref="BudgetInfeasibleException">The budget is below the cheapest configuration; the message states
    /// the smallest feasible budget in the request's unit.</exception>
    /// <exception cref="ArgumentException">Wrong number of weights.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative, NaN or infinite weight, or all weights zero.</exception>
    /// <exception cref="InvalidOperationException">A millisecond budget without a latency table.</exception>
    public SearchResult Search(Budget budget, IReadOnlyList<double> preferences) =>
        SearchNormalized(budget, TaskPreferences.Normalize(preferences, Costs.TaskCount));

    /// <summary>As <see cref="Search(Budget, IReadOnlyDictionary{string, double})"/>, returning only the configuration.</summary>
    /// <exception cref="BudgetInfeasibleException">See <see cref="Search(Budget, IReadOnlyDictionary{string, double})"/>.</exception>
    /// <exception cref="ArgumentException">See <see cref="Search(Budget, IReadOnlyDictionary{string, double})"/>.</exception>
    /// <exception cref="InvalidOperationException">A millisecond budget without a latency table.</exception>
    public WidthConfiguration SelectConfiguration(Budget budget, IReadOnlyDictionary<string, double> preferences) =>
        Search(budget, preferences).Configuration;

    private SearchResult SearchNormalized(Budget budget, double[] p)
    {
        ModelIndex idx = IndexFor(budget.Unit);
        double capacity = CheckedCapacity(idx, budget);
        int e = idx.SelectEncoder(capacity);
        int[] d = idx.SolveDecoders(e, capacity, p);
        if (!(idx.Model.Cost(e, d) <= capacity))
            throw new InvalidOperationException($"Internal error: the search produced a configuration costing {idx.Model.Cost(e, d)} for a capacity of {capacity}.");
        return idx.Model.Result(e, d, budget, p, Calibration, Latency);
    }

    /// <summary>
    /// The configurations within <paramref name="budget"/> whose vectors of relative performance (P_1..P_T, fraction
    /// of full) are not dominated by another configuration within budget (of identical vectors, the cheapest is
    /// kept), sorted by descending P_1, P_2, ... Exact when #encoder options x #widths^#tasks is at most
    /// <see cref="SearchOptions.ParetoEnumerationLimit"/> (e.g. every network with up to 3 tasks and 4 widths);
    /// otherwise restricted to the stage-1 encoder e* and the stage-2 answers for the T one-hot preferences, equal
    /// preferences and <see cref="SearchOptions.ParetoPreferenceSamples"/> Dirichlet(1) preference vectors (seed 12345),
    /// then filtered: a subset of the true front at e*.
    /// </summary>
    /// <exception cref="BudgetInfeasibleException">The budget is below the cheapest configuration.</exception>
    /// <exception cref="InvalidOperationException">Milliseconds without a latency table.</exception>
    public ParetoFrontResult ParetoFront(Budget budget)
    {
        ModelIndex idx = IndexFor(budget.Unit);
        double capacity = CheckedCapacity(idx, budget);
        int eCount = Costs.EncoderOptionCount, tCount = Costs.TaskCount, wCount = Costs.DecoderWidths.Count;
        var candidates = new List<(int E, int[] D, double Cost)>();
        bool exact = eCount * Math.Pow(wCount, tCount) <= _options.ParetoEnumerationLimit;
        if (exact)
        {
            int n = (int)Math.Pow(wCount, tCount);
            var d = new int[tCount];
            for (int e = 0; e < eCount; e++)
                for (int k = 0; k < n; k++)
                {
                    int kk = k;
                    for (int t = 0; t < tCount; t++) { d[t] = kk % wCount; kk /= wCount; }
                    double c = idx.Model.Cost(e, d);
                    if (c <= capacity) candidates.Add((e, (int[])d.Clone(), c));
                }
        }
        else
        {
            int e = idx.SelectEncoder(capacity);
            var prefs = new List<double[]>();
            for (int t = 0; t < tCount; t++) { var oneHot = new double[tCount]; oneHot[t] = 1; prefs.Add(oneHot); }
            prefs.Add(Enumerable.Repeat(1.0 / tCount, tCount).ToArray());
            var rng = new Random(12345);
            for (int i = 0; i < _options.ParetoPreferenceSamples; i++) prefs.Add(Dirichlet.Sample(rng, tCount, 1.0));
            foreach (double[] p in prefs)
            {
                int[] d = idx.SolveDecoders(e, capacity, p);
                candidates.Add((e, d, idx.Model.Cost(e, d)));
            }
        }
        var withP = candidates.Select(c => (c.E, c.D, c.Cost, P: Calibration.Relative(c.E, c.D))).ToList();
        withP.Sort((a, b) =>
        {
            for (int t = 0; t < tCount; t++)
            {
                int cmp = b.P[t].CompareTo(a.P[t]);
                if (cmp != 0) return cmp;
            }
            int c2 = a.Cost.CompareTo(b.Cost);
            return c2 != 0 ? c2 : a.E.CompareTo(b.E);
        });
        var front = new List<(int E, int[] D, double Cost, double[] P)>();
        foreach (var cand in withP)
        {
            // Any configuration that weakly dominates cand sorts before it, so checking the front so far suffices.
            bool dominated = front.Any(f => WeaklyDominates(f.P, cand.P));
            if (!dominated) front.Add(cand);
        }
        var points = front.Select(f => new ParetoPoint(Costs.Configuration(f.E, f.D), f.E, f.D, MacsOf(f.E, f.D),
            idx.Model.CostInUnit(f.Cost, budget.Unit), f.P)).ToList();
        return new ParetoFrontResult(budget, points, exact);
    }

    /// <summary>The stage-1 grid table V_e(MinTotal[e] + q step[e]) for q in [0, Stage1GridCells] of the MAC (or, with
    /// <paramref name="milliseconds"/>, latency) index, or null under enumeration. For the equivalence tests.</summary>
    internal IReadOnlyList<double>? Stage1Grid(int encoderOption, bool milliseconds = false) =>
        (milliseconds ? _msIndex : _macIndex)?.Stage1Grid(encoderOption);

    private long MacsOf(int e, int[] d) => Costs.SumMacs(e, d);

    private static bool WeaklyDominates(double[] a, double[] b)
    {
        for (int t = 0; t < a.Length; t++) if (a[t] < b[t]) return false;
        return true;
    }

    SearchResult IConfigurationController.Search(Budget budget, IReadOnlyList<double> preferences) => Search(budget, preferences);

    private ModelIndex IndexFor(BudgetUnit unit) => unit == BudgetUnit.Milliseconds
        ? _msIndex ?? throw new InvalidOperationException("A budget in milliseconds needs a latency table: build one with LatencyTable.Measure (or LatencyTable.GetOrMeasure) and pass it to the ConfigurationSearch constructor.")
        : _macIndex;

    private static double CheckedCapacity(ModelIndex idx, Budget budget)
    {
        double capacity = idx.Model.Capacity(budget);
        if (capacity < idx.Model.Smallest) throw idx.Model.Infeasible(budget, idx.Model.Smallest);
        return capacity;
    }

    /// <summary>Working memory of <see cref="Knapsack"/>: per query (thread-static) for stage 2, per construction for
    /// stage 1. Internal for the equivalence tests.</summary>
    internal sealed class Scratch
    {
        // Two DP rows (primary, secondary objective), used alternately as the previous and the current row. Cell q is at
        // index Block + q: a front pad of one block of -infinity (see Knapsack) and a tail pad to a whole number of blocks.
        public double[] PrimA = [], SecA = [], PrimB = [], SecB = [];
        public double[] Value = [], Secondary = []; // per (task, width): [t * widths + d]
        public double[] BestWidth = [];              // the current row's chosen width per cell (a double, for the vector select)
        public ushort[] Choice = []; // decoder width index per (task, cell); a byte held only 256 widths
        public int[] Limit = [];     // per task: Choice[t * cells + q] is written for q <= Limit[t] (see Knapsack)
        public int[] Rounded = [];

        public void Ensure(int cells, int tasks, int widths, bool choice)
        {
            int row = Block + RoundUpToBlock(cells);
            if (PrimA.Length < row)
            {
                PrimA = new double[row]; SecA = new double[row]; PrimB = new double[row]; SecB = new double[row];
                BestWidth = new double[row];
                foreach (double[] x in new[] { PrimA, SecA, PrimB, SecB }) x.AsSpan(0, Block).Fill(double.NegativeInfinity);
            }
            if (choice && Choice.Length < cells * tasks) Choice = new ushort[cells * tasks];
            if (Limit.Length < tasks) Limit = new int[tasks];
            if (Rounded.Length < tasks * widths) { Rounded = new int[tasks * widths]; Value = new double[tasks * widths]; Secondary = new double[tasks * widths]; }
        }
    }

    /// <summary>Grid cells per step of the DP's inner loop: two vectors of doubles (two independent dependency chains).</summary>
    internal static int Block => 2 * Vector<double>.Count;

    private static int RoundUpToBlock(int n) => (n + Block - 1) / Block * Block;

    /// <summary>
    /// Multiple-choice knapsack DP over grid costs: for every grid capacity q in [0, cells), the lexicographic maximum
    /// of (sum_t value[t][d_t], sum_t secondary[t][d_t]) over choices with sum_t rounded[t][d_t] &lt;= q. Row t (tasks
    /// 0..t) at q is, of the widths with r_t(d) &lt;= q in ascending order, the first to reach the maximum of
    /// (row_{t-1}[q - r_t(d)].primary + value[t][d], row_{t-1}[q - r_t(d)].secondary + secondary[t][d]): a width replaces
    /// the incumbent on a strictly larger primary, or an equal primary and a strictly larger secondary; row_{-1} = (0, 0).
    /// Inputs are <paramref name="sc"/>'s Rounded, Value and Secondary ([t * widths + d]); every task must have a width
    /// of rounded cost 0 (its cheapest). Returns the last row's primary values over [0, cells). With
    /// <paramref name="choice"/>, writes the chosen width of row t at q into Choice[t * cells + q] for q &lt;= Limit[t]
    /// only: for larger q it equals the choice at Limit[t] (below).
    /// <para>Exact speed-ups over the plain loop over (t, q descending, d), which it replaced (issue 12); rows, choices and
    /// answers are bit-identical (ControlKnapsackEquivalenceTests keeps the plain loop as the reference):
    /// (1) <b>Reachable prefix.</b> Let L_t = min(cells - 1, sum over tasks 0..t of max_d r_t(d)), L_{-1} = 0. For
    /// q &gt;= L_t every width is admissible and reads row_{t-1} at q - r_t(d) &gt;= L_{t-1}, where (induction) row_{t-1}
    /// is constant; so row t, its choices included, is constant on [L_t, cells). Only [0, L_t] is computed; the previous
    /// row is extended by its value at L_{t-1} as far as it is read, and the last row to cells - 1.
    /// (2) <b>Vectorised over q.</b> Row t is computed from a separate previous row a block of cells at a time (two
    /// vectors, whose chains of comparisons and selections are independent), with the widths in ascending order per cell
    /// and the scalar rule's additions, comparisons and selections done lane-wise (IEEE double arithmetic is the same in
    /// a vector lane). A width costing more than every cell of the block is skipped; one costing more than some of them
    /// reads, in those lanes, the front pad of -infinity (primary and secondary), whose candidate (-infinity or NaN) can
    /// never replace the incumbent: exactly the scalar loop's skipping of a width above q. Per-task value arrays replace
    /// the per-width delegate calls.</para>
    /// <para>Cost: sum_t (L_t + 1) x widths cell updates, in vectors of <see cref="Vector{T}.Count"/> doubles; at most
    /// tasks x cells x widths.</para>
    /// </summary>
    internal static ReadOnlySpan<double> Knapsack(Scratch sc, int tasks, int widths, int cells, bool choice)
    {
        int lanes = Vector<double>.Count, block = Block, pad = Block;
        double[] prevP = sc.PrimA, prevS = sc.SecA, curP = sc.PrimB, curS = sc.SecB;
        prevP[pad] = 0; // row_{-1}: (0, 0) everywhere, extended from cell 0 below
        prevS[pad] = 0;
        int prevLimit = 0;
        var minusInf = new Vector<double>(double.NegativeInfinity);
        ref double bw = ref MemoryMarshal.GetArrayDataReference(sc.BestWidth);
        for (int t = 0; t < tasks; t++)
        {
            ReadOnlySpan<int> r = sc.Rounded.AsSpan(t * widths, widths);
            ReadOnlySpan<double> v = sc.Value.AsSpan(t * widths, widths), s = sc.Secondary.AsSpan(t * widths, widths);
            int maxR = 0;
            foreach (int x in r) maxR = Math.Max(maxR, x);
            int limit = (int)Math.Min(cells - 1L, (long)prevLimit + maxR);
            int end = RoundUpToBlock(limit + 1); // cells [0, end) are computed; those above limit are not used
            // Row t reads row t-1 at cells up to end - 1: extend row t-1 (constant from prevLimit on) that far.
            prevP.AsSpan(pad + prevLimit + 1, end - 1 - prevLimit).Fill(prevP[pad + prevLimit]);
            prevS.AsSpan(pad + prevLimit + 1, end - 1 - prevLimit).Fill(prevS[pad + prevLimit]);
            ref double pp = ref MemoryMarshal.GetArrayDataReference(prevP), ps = ref MemoryMarshal.GetArrayDataReference(prevS);
            ref double cp = ref MemoryMarshal.GetArrayDataReference(curP), cs = ref MemoryMarshal.GetArrayDataReference(curS);
            for (int q0 = 0; q0 < end; q0 += block)
            {
                Vector<double> bp0 = minusInf, bs0 = minusInf, bd0 = Vector<double>.Zero;
                Vector<double> bp1 = minusInf, bs1 = minusInf, bd1 = Vector<double>.Zero;
                for (int d = 0; d < r.Length; d++)
                {
                    int rd = r[d];
                    if (rd >= q0 + block) continue; // above every cell of this block
                    // Index pad + q0 - rd >= pad - block + 1 >= 1, and the block's last read is at most pad + end - 1.
                    nuint src = (nuint)(pad + q0 - rd);
                    var vd = new Vector<double>(v[d]);
                    var sd = new Vector<double>(s[d]);
                    var dd = new Vector<double>(d);
                    Vector<double> a0 = Vector.LoadUnsafe(ref pp, src) + vd, b0 = Vector.LoadUnsafe(ref ps, src) + sd;
                    Vector<double> a1 = Vector.LoadUnsafe(ref pp, src + (nuint)lanes) + vd, b1 = Vector.LoadUnsafe(ref ps, src + (nuint)lanes) + sd;
                    Vector<long> better0 = Vector.GreaterThan(a0, bp0), better1 = Vector.GreaterThan(a1, bp1);
                    Vector<long> replace0 = better0 | (Vector.Equals(a0, bp0) & Vector.GreaterThan(b0, bs0));
                    Vector<long> replace1 = better1 | (Vector.Equals(a1, bp1) & Vector.GreaterThan(b1, bs1));
                    bp0 = Vector.ConditionalSelect(better0, a0, bp0);
                    bp1 = Vector.ConditionalSelect(better1, a1, bp1);
                    bs0 = Vector.ConditionalSelect(replace0, b0, bs0);
                    bs1 = Vector.ConditionalSelect(replace1, b1, bs1);
                    bd0 = Vector.ConditionalSelect(replace0, dd, bd0);
                    bd1 = Vector.ConditionalSelect(replace1, dd, bd1);
                }
                nuint dst = (nuint)(pad + q0);
                bp0.StoreUnsafe(ref cp, dst);
                bp1.StoreUnsafe(ref cp, dst + (nuint)lanes);
                bs0.StoreUnsafe(ref cs, dst);
                bs1.StoreUnsafe(ref cs, dst + (nuint)lanes);
                bd0.StoreUnsafe(ref bw, (nuint)q0);
                bd1.StoreUnsafe(ref bw, (nuint)(q0 + lanes));
            }
            if (choice)
            {
                Span<ushort> ch = sc.Choice.AsSpan(t * cells, limit + 1);
                ReadOnlySpan<double> best = sc.BestWidth.AsSpan(0, limit + 1);
                for (int q = 0; q < ch.Length; q++) ch[q] = (ushort)best[q];
            }
            sc.Limit[t] = limit;
            prevLimit = limit;
            (prevP, curP) = (curP, prevP);
            (prevS, curS) = (curS, prevS);
        }
        // The last row (now prevP) is constant from prevLimit on.
        prevP.AsSpan(pad + prevLimit + 1, cells - 1 - prevLimit).Fill(prevP[pad + prevLimit]);
        return prevP.AsSpan(pad, cells);
    }

    private static void Round(CostModel m, int e, double step, int cells, int[] rounded)
    {
        for (int t = 0; t < m.T; t++)
            for (int d = 0; d < m.W; d++)
            {
                double x = m.Excess[e][t][d];
                rounded[t * m.W + d] = x <= 0 ? 0 : !(step > 0) ? cells : (int)Math.Min(cells, Math.Ceiling(x / step * (1 + 1e-12)));
            }
    }

    /// <summary>Everything precomputed for one cost unit (MACs or latency).</summary>
    private sealed class ModelIndex
    {
        private readonly ConfigurationSearch _s;
        // Enumeration (per encoder option, configurations sorted by cost):
        private readonly double[][]? _enumCost;
        private readonly ushort[][]? _enumWidths; // [e][k*T + t] (a byte held only 256 widths)
        private readonly double[][]? _enumF;      // [e][k*T + t] = g
        private readonly double[][]? _enumSumF;   // [e][k]
        private readonly double[][]? _enumBestMean; // [e][k] = max over the first k+1 of mean raw P
        // Stage-1 grid (per encoder option):
        private readonly double[][]? _gridBest;
        private readonly double[]? _gridStep;

        public ModelIndex(ConfigurationSearch s, CostModel model)
        {
            _s = s;
            Model = model;
            int eCount = model.E, tCount = model.T, wCount = model.W;
            if (s._enumerate)
            {
                int n = (int)Math.Pow(wCount, tCount);
                _enumCost = new double[eCount][];
                _enumWidths = new ushort[eCount][];
                _enumF = new double[eCount][];
                _enumSumF = new double[eCount][];
                _enumBestMean = new double[eCount][];
                var d = new int[tCount];
                for (int e = 0; e < eCount; e++)
                {
                    var cost = new double[n];
                    for (int k = 0; k < n; k++) { Decode(k, wCount, d); cost[k] = model.Cost(e, d); }
                    int[] order = Enumerable.Range(0, n).OrderBy(k => cost[k]).ThenBy(k => k).ToArray();
                    _enumCost[e] = new double[n];
                    _enumWidths[e] = new ushort[n * tCount];
                    _enumF[e] = new double[n * tCount];
                    _enumSumF[e] = new double[n];
                    _enumBestMean[e] = new double[n];
                    double best = double.NegativeInfinity;
                    for (int i = 0; i < n; i++)
                    {
                        int k = order[i];
                        Decode(k, wCount, d);
                        _enumCost[e][i] = cost[k];
                        double mean = 0, sumF = 0;
                        for (int t = 0; t < tCount; t++)
                        {
                            _enumWidths[e][i * tCount + t] = (ushort)d[t];
                            double f = s._f[e][t][d[t]];
                            _enumF[e][i * tCount + t] = f;
                            sumF += f;
                            mean += s._p[e][t][d[t]];
                        }
                        _enumSumF[e][i] = sumF;
                        best = Math.Max(best, mean / tCount);
                        _enumBestMean[e][i] = best;
                    }
                }
            }
            else
            {
                int cells = s._options.Stage1GridCells + 1;
                _gridBest = new double[eCount][];
                _gridStep = new double[eCount];
                var sc = new Scratch();
                sc.Ensure(cells, tCount, wCount, choice: false);
                for (int e = 0; e < eCount; e++)
                {
                    double step = model.MaxExcessSum[e] / s._options.Stage1GridCells;
                    _gridStep[e] = step;
                    Round(model, e, step, cells, sc.Rounded);
                    for (int t = 0; t < tCount; t++)
                        for (int d = 0; d < wCount; d++)
                        {
                            sc.Value[t * wCount + d] = s._p[e][t][d] / tCount;
                            sc.Secondary[t * wCount + d] = 0;
                        }
                    _gridBest[e] = Knapsack(sc, tCount, wCount, cells, choice: false).ToArray();
                }
            }
        }

        public CostModel Model { get; }

        public IReadOnlyList<double>? Stage1Grid(int e) => _gridBest?[e];

        /// <summary>Best equal-weight mean relative performance at encoder e within capacity, or -inf if infeasible.</summary>
        private double Stage1Value(int e, double capacity)
        {
            if (capacity < Model.MinTotal[e]) return double.NegativeInfinity;
            if (_enumCost is not null)
            {
                double[] c = _enumCost[e];
                int lo = 0, hi = c.Length - 1; // largest i with c[i] <= capacity; c[0] = MinTotal[e] <= capacity
                while (lo < hi)
                {
                    int mid = (lo + hi + 1) >> 1;
                    if (c[mid] <= capacity) lo = mid; else hi = mid - 1;
                }
                return _enumBestMean![e][lo];
            }
            double slack = capacity - Model.MinTotal[e];
            double[] g = _gridBest![e];
            if (slack >= Model.MaxExcessSum[e]) return g[^1];
            int q = (int)Math.Min(g.Length - 1, Math.Floor(slack / _gridStep![e]));
            return g[q];
        }

        public int SelectEncoder(double capacity)
        {
            int n = _s._encoderOrder.Length;
            Span<double> v = stackalloc double[n];
            double max = double.NegativeInfinity;
            for (int i = 0; i < n; i++) { v[i] = Stage1Value(_s._encoderOrder[i], capacity); max = Math.Max(max, v[i]); }
            // Candidates: within the tolerance of the best equal-weight value. Of them, lexicographically: one that leaves
            // the decoders room (Room > 0, so preferences can act), then the larger value (ties within 1e-12), then the
            // larger encoder (i descending).
            double floor = max - _s._options.EncoderTolerance - 1e-12;
            int best = -1;
            bool bestHasRoom = false;
            for (int i = n - 1; i >= 0; i--)
            {
                if (!(v[i] >= floor)) continue;
                bool hasRoom = PreferencesCanAct(_s._encoderOrder[i], capacity);
                if (best < 0 || (hasRoom && !bestHasRoom) || (hasRoom == bestHasRoom && v[i] > v[best] + 1e-12)) { best = i; bestHasRoom = hasRoom; }
            }
            if (best < 0) throw new InvalidOperationException("Internal error: no feasible encoder option.");
            return _s._encoderOrder[best];
        }

        /// <summary>
        /// False when encoder e within capacity is stuck: no decoder can take a wider width (Room = 0) although not every
        /// decoder is at its widest. Then every preference vector yields the same configuration at e. True when some
        /// decoder can widen, or when every decoder fits at its widest (nothing to trade).
        /// </summary>
        public bool PreferencesCanAct(int e, double capacity) =>
            capacity - Model.MinTotal[e] >= Model.MaxExcessSum[e] || Room(e, capacity) > 0;

        /// <summary>
        /// The decoders' room at encoder e within capacity: sum over tasks of the number of widths above the cheapest
        /// that task t's decoder can take while every other decoder stays at its cheapest. 0 means no preference can
        /// change the configuration.
        /// </summary>
        public int Room(int e, double capacity)
        {
            double slack = capacity - Model.MinTotal[e];
            if (slack < 0) return -1;
            int room = 0;
            double[][] excess = Model.Excess[e];
            for (int t = 0; t < excess.Length; t++)
            {
                double[] x = excess[t];
                for (int d = 0; d < x.Length; d++)
                    if (x[d] > 0 && x[d] <= slack) room++;
            }
            return room;
        }

        public int[] SolveDecoders(int e, double capacity, double[] p)
        {
            int tCount = Model.T, wCount = Model.W;
            var result = new int[tCount];
            double[][] f = _s._f[e];
            if (_enumCost is not null)
            {
                double[] cost = _enumCost[e], F = _enumF![e], sumF = _enumSumF![e];
                double bp = double.NegativeInfinity, bs = double.NegativeInfinity;
                int best = -1;
                for (int i = 0; i < cost.Length && cost[i] <= capacity; i++)
                {
                    double a = 0;
                    int off = i * tCount;
                    for (int t = 0; t < tCount; t++) a += p[t] * F[off + t];
                    if (a > bp || (a == bp && sumF[i] > bs)) { bp = a; bs = sumF[i]; best = i; }
                }
                for (int t = 0; t < tCount; t++) result[t] = _enumWidths![e][best * tCount + t];
                return result;
            }
            double slack = capacity - Model.MinTotal[e];
            if (slack >= Model.MaxExcessSum[e])
            {
                // Everything fits: g is strictly increasing, so every task takes its widest decoder.
                for (int t = 0; t < tCount; t++) result[t] = wCount - 1;
                return result;
            }
            int gridCells = _s._options.GridCells;
            int cells = gridCells + 1;
            Scratch sc = t_scratch ??= new Scratch();
            sc.Ensure(cells, tCount, wCount, choice: true);
            double step = slack / gridCells;
            Round(Model, e, step, cells, sc.Rounded);
            for (int t = 0; t < tCount; t++)
                for (int d = 0; d < wCount; d++)
                {
                    sc.Value[t * wCount + d] = p[t] * f[t][d];
                    sc.Secondary[t * wCount + d] = f[t][d];
                }
            Knapsack(sc, tCount, wCount, cells, choice: true);
            int q = gridCells;
            for (int t = tCount - 1; t >= 0; t--)
            {
                int d = sc.Choice[t * cells + Math.Min(q, sc.Limit[t])]; // constant above Limit[t] (see Knapsack)
                result[t] = d;
                q -= sc.Rounded[t * wCount + d];
            }
            return result;
        }

        private static void Decode(int k, int w, int[] d)
        {
            for (int t = 0; t < d.Length; t++) { d[t] = k % w; k /= w; }
        }
    }
}

/// <summary>One configuration on a Pareto front.</summary>
/// <param name="Configuration">The configuration.</param>
/// <param name="EncoderOption">Its encoder option index.</param>
/// <param name="DecoderWidthIndices">Its decoder width indices.</param>
/// <param name="Macs">Exact MACs per image.</param>
/// <param name="Cost">Cost in the budget's unit (fraction of full MACs, MACs or ms).</param>
/// <param name="RelativePerformance">P_t(e, d_t) per task, fraction of full.</param>
public sealed record ParetoPoint(WidthConfiguration Configuration, int EncoderOption, IReadOnlyList<int> DecoderWidthIndices,
    long Macs, double Cost, IReadOnlyList<double> RelativePerformance);

/// <summary>The Pareto front within a budget (see <see cref="ConfigurationSearch.ParetoFront"/>).</summary>
/// <param name="Budget">The budget.</param>
/// <param name="Points">Non-dominated configurations, sorted by descending relative performance of task 0, 1, ...</param>
/// <param name="IsExact">True when every configuration was enumerated; false for the restricted sweep.</param>
public sealed record ParetoFrontResult(Budget Budget, IReadOnlyList<ParetoPoint> Points, bool IsExact);
