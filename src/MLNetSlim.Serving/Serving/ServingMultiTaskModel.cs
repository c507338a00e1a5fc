using System.Collections.Concurrent;
using MLNetSlim.Architecture;
using MLNetSlim.Control;

namespace MLNetSlim.Serving;

/// <summary>Settings of the ONNX Runtime sessions of a <see cref="ServingMultiTaskModel"/>.</summary>
public sealed class ServingOptions
{
    /// <summary>Intra-op threads per session; 0 lets ONNX Runtime choose (one per core). Default 0.</summary>
    public int IntraOpThreads { get; set; }
}

/// <summary>
/// A <see cref="ServingBundle"/> ready to serve: the configuration search (budget and task weights to a width
/// configuration) over the bundle's cost and calibration tables, and one ONNX Runtime session per configuration,
/// created on first use and cached. No TorchSharp. <see cref="ServingMultiTaskTransformer"/> serves it in ML.NET.
/// </summary>
/// <remarks>
/// <para><b>Selection.</b> A bundle with every configuration uses the same <see cref="ConfigurationSearch"/> as the
/// TorchSharp model, so it picks the same configuration for the same budget and weights. A bundle with a subset picks,
/// among its configurations whose MACs fit the budget, the one with the highest preference-weighted relative
/// calibration metric (weights normalised to sum 1; ties: fewer MACs), exhaustively.</para>
/// <para><b>Budgets.</b> Fractions of full MACs and MACs; milliseconds when the bundle carries a latency table
/// (<see cref="ServingBundle.Latency"/>: batch-1 ONNX Runtime latencies measured at export, on the machine it names;
/// bundles of format 1 or exported without one throw <see cref="NotSupportedException"/>).</para>
/// <para><b>Threads.</b> <see cref="SelectConfiguration"/> and <see cref="Predict"/> are safe for concurrent calls
/// (ONNX Runtime sessions are thread-safe).</para>
/// </remarks>
public sealed class ServingMultiTaskModel : IDisposable
{
    private readonly ConcurrentDictionary<ResolvedConfiguration, Lazy<OnnxSession>> _sessions = new();
    private readonly Dictionary<ResolvedConfiguration, int> _index;
    private readonly ConfigurationSearch? _search;
    private readonly ServingOptions _options;
    private bool _disposed;

    /// <summary>Serves <paramref name="bundle"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="bundle"/> is null.</exception>
    public ServingMultiTaskModel(ServingBundle bundle, ServingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        Bundle = bundle;
        _options = options ?? new ServingOptions();
        _index = bundle.Configurations.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
        if (bundle.HasEveryConfiguration) _search = new ConfigurationSearch(bundle.Costs, bundle.Calibration, bundle.Latency?.Table);
    }

    /// <summary>Loads a bundle file and serves it.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="Model.InvalidModelFileException">Not a valid bundle (see <see cref="ServingBundle.Load(string)"/>).</exception>
    public static ServingMultiTaskModel Load(string path, ServingOptions? options = null) => new(ServingBundle.Load(path), options);

    /// <summary>The bundle served.</summary>
    public ServingBundle Bundle { get; }

    /// <summary>The tasks, in decoder order.</summary>
    public IReadOnlyList<TaskDefinition> Tasks => Bundle.Tasks;

    /// <summary>Exact MACs of every configuration.</summary>
    public CostTable Costs => Bundle.Costs;

    /// <summary>Configurations whose ONNX Runtime session exists so far.</summary>
    public IReadOnlyCollection<WidthConfiguration> PreparedConfigurations =>
        _sessions.Where(p => p.Value.IsValueCreated).Select(p => p.Key.Widths).ToArray();

    /// <summary>The width configuration for a budget and task preferences (see the remarks for how).</summary>
    /// <param name="budget">Fraction of full MACs, MACs, or milliseconds (with a latency table).</param>
    /// <param name="taskPreferences">Non-negative weights, one per task in task order (need not sum to 1).</param>
    /// <exception cref="BudgetInfeasibleException">The budget is below the cheapest configuration in the bundle (the
    /// message names the smallest feasible budget).</exception>
    /// <exception cref="NotSupportedException">A millisecond budget and a bundle without a latency table.</exception>
    /// <exception cref="ArgumentException">Wrong number of weights.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative, NaN or infinite weight, or all zero.</exception>
    public ResolvedConfiguration SelectConfiguration(Budget budget, IReadOnlyList<double> taskPreferences)
    {
        ArgumentNullException.ThrowIfNull(taskPreferences);
        LatencyTable? latency = Bundle.Latency?.Table;
        if (budget.Unit == BudgetUnit.Milliseconds && latency is null)
            throw new NotSupportedException(
                $"Budget {budget}: millisecond budgets need a latency table, and this serving bundle does not carry one (format version 1, or exported without it); use a fraction of full MACs or MACs, or export the bundle again with this library.");
        if (_search is not null) return _search.Search(budget, taskPreferences).Selected;
        double[] p = TaskPreferences.Normalize(taskPreferences, Tasks.Count);
        double limit = budget.Unit switch
        {
            BudgetUnit.Macs => budget.Value,
            BudgetUnit.Milliseconds => budget.Value,
            _ => budget.Value * Costs.FullMacs,
        };
        double CostOf(ResolvedConfiguration c) => budget.Unit == BudgetUnit.Milliseconds ? latency!.PredictMs(c.EncoderOption, c.DecoderWidthIndices) : c.Macs;
        ResolvedConfiguration? best = null;
        double bestScore = double.NegativeInfinity;
        foreach (ResolvedConfiguration c in Bundle.Configurations)
        {
            if (CostOf(c) > limit) continue;
            double[] relative = Bundle.Calibration.Relative(c.EncoderOption, c.DecoderWidthIndices);
            double score = 0;
            for (int t = 0; t < p.Length; t++) score += p[t] * relative[t];
            if (score > bestScore || (score == bestScore && best is not null && c.Macs < best.Macs))
            {
                best = c;
                bestScore = score;
            }
        }
        if (best is not null) return best;
        if (budget.Unit == BudgetUnit.Milliseconds)
            throw new BudgetInfeasibleException(budget, Budget.Milliseconds(Bundle.Configurations.Min(CostOf)), "the fastest configuration in this serving bundle takes longer");
        long smallest = Bundle.Configurations.Min(c => c.Macs);
        Budget feasible = budget.Unit == BudgetUnit.Macs ? Budget.Macs(smallest) : Budget.FractionOfFull((double)smallest / Costs.FullMacs);
        throw new BudgetInfeasibleException(budget, feasible, "the cheapest configuration in this serving bundle costs more");
    }

    /// <summary>Runs <paramref name="configuration"/> (one of <see cref="ServingBundle.Configurations"/>) on a batch
    /// through ONNX Runtime. Input: <paramref name="count"/> images, (N, C, H, W) float32 row-major. Output: per task,
    /// (N, K_t) class probabilities, row-major.</summary>
    /// <exception cref="ArgumentException">Wrong number of floats, or a configuration that is not in the bundle (the
    /// message lists how many are).</exception>
    public float[][] Predict(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(configuration);
        int size = Bundle.Channels * Bundle.Height * Bundle.Width;
        if (count < 1 || images.Length != count * size)
            throw new ArgumentException($"Expected {count} images of (C, H, W) = ({Bundle.Channels}, {Bundle.Height}, {Bundle.Width}) = {count * size} floats; got {images.Length}.", nameof(images));
        return SessionFor(configuration).Run(images, count, size);
    }

    /// <summary>Creates the sessions of <paramref name="configurations"/> now, so no request pays for it later.</summary>
    /// <exception cref="ArgumentException">A configuration that is not in the bundle.</exception>
    public void Prepare(IEnumerable<WidthConfiguration> configurations)
    {
        ArgumentNullException.ThrowIfNull(configurations);
        foreach (WidthConfiguration c in configurations) _ = SessionFor(Costs.Resolve(c));
    }

    /// <summary>Disposes the sessions.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (Lazy<OnnxSession> s in _sessions.Values)
            if (s.IsValueCreated) s.Value.Dispose();
        _sessions.Clear();
    }

    private OnnxSession SessionFor(ResolvedConfiguration configuration)
    {
        if (_sessions.TryGetValue(configuration, out Lazy<OnnxSession>? cached)) return cached.Value;
        if (!_index.TryGetValue(configuration, out int index))
            throw new ArgumentException($"Configuration {configuration} is not in this serving bundle (it holds {_index.Count} configurations).", nameof(configuration));
        return _sessions.GetOrAdd(configuration, _ => new Lazy<OnnxSession>(() => CreateSession(index), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    private OnnxSession CreateSession(int index) =>
        new(Bundle.Graph(index), Tasks.Select(t => ServingMultiTaskTransformer.ScoreColumnPrefix + t.Name).ToArray(), _options.IntraOpThreads);
}
