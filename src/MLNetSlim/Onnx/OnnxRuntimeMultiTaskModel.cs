using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;
using MLNetSlim.Control;
using MLNetSlim.Network;
using MLNetSlim.Architecture;
using MLNetSlim.Model;
using MLNetSlim.Serving;

namespace MLNetSlim.Onnx;

/// <summary>Settings of <see cref="OnnxRuntimeMultiTaskModel"/>'s ONNX Runtime sessions.</summary>
public sealed class OnnxRuntimeServingOptions
{
    /// <summary>Intra-op threads per session; 0 lets ONNX Runtime choose (one per core). Default 0.</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>Graph optimisation level. Default: all optimisations.</summary>
    public GraphOptimizationLevel OptimizationLevel { get; set; } = GraphOptimizationLevel.ORT_ENABLE_ALL;
}

/// <summary>
/// The fast serving path: a trained <see cref="ControllableMultiTaskModel"/> whose forward passes run through ONNX
/// Runtime. Each width configuration is exported (<see cref="MultiTaskOnnxExporter"/>) and loaded into an
/// <see cref="InferenceSession"/> the first time it is asked for, then cached; control is unchanged: the same cost
/// table, calibration table and search choose the configuration for a budget and task weights. The ML.NET transformer
/// (<c>ControllableMultiTaskTransformer</c>) runs its forward passes through one of these by default
/// (<c>UseOnnxRuntime</c>); <c>WithOnnxRuntime(options)</c> gives a transformer over one with chosen session settings.
/// </summary>
/// <remarks>
/// <para>Outputs equal the TorchSharp model's within float rounding (the parity tests: 3e-7 on probabilities).
/// The first prediction at a configuration pays its export and session creation (tens of milliseconds for the
/// default network); <see cref="Prepare"/> does it ahead of time. The TorchSharp model stays in memory (it is the
/// source of every export).</para>
/// <para>Needs ONNX Runtime's native library in the application: reference <c>Microsoft.ML.OnnxRuntime</c>.</para>
/// <para>Millisecond budgets use this fast path's own ONNX Runtime latencies (<see cref="MeasureLatency"/>), not
/// the TorchSharp model's.</para>
/// <para><see cref="Predict(ReadOnlySpan{float}, int, ResolvedConfiguration)"/> may be called from several threads (ONNX Runtime sessions are thread-safe).</para>
/// </remarks>
public sealed class OnnxRuntimeMultiTaskModel : IMultiTaskModel, IDisposable
{
    private readonly ConcurrentDictionary<ResolvedConfiguration, Lazy<OnnxSession>> _sessions = new();
    private readonly OnnxRuntimeServingOptions _options;
    private readonly object _exportLock = new();
    private readonly bool _ownsModel;
    private readonly object _latencyLock = new();
    private volatile ConfigurationSearch? _latencySearch;
    private bool _disposed;

    /// <summary>Serves <paramref name="model"/> through ONNX Runtime.</summary>
    /// <param name="model">The trained model.</param>
    /// <param name="options">Session settings; null for the defaults.</param>
    /// <param name="ownsModel">Whether <see cref="Dispose"/> also disposes <paramref name="model"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    public OnnxRuntimeMultiTaskModel(ControllableMultiTaskModel model, OnnxRuntimeServingOptions? options = null, bool ownsModel = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        Inner = model;
        _options = options ?? new OnnxRuntimeServingOptions();
        _ownsModel = ownsModel;
    }

    /// <summary>The TorchSharp model the configurations are exported from.</summary>
    public ControllableMultiTaskModel Inner { get; }

    /// <inheritdoc />
    public IReadOnlyList<TaskDefinition> Tasks => Inner.Tasks;

    /// <inheritdoc />
    public int Channels => Inner.Channels;

    /// <inheritdoc />
    public int Height => Inner.Height;

    /// <inheritdoc />
    public int Width => Inner.Width;

    /// <inheritdoc />
    public CostTable Costs => Inner.Costs;

    /// <summary>Configurations exported and loaded so far.</summary>
    public IReadOnlyCollection<WidthConfiguration> PreparedConfigurations =>
        _sessions.Where(p => p.Value.IsValueCreated).Select(p => p.Key.Widths).ToArray();

    /// <summary>The latency table of this fast path (after <see cref="MeasureLatency"/> or a first millisecond
    /// budget), or null.</summary>
    public LatencyTable? Latency => _latencySearch?.Latency;

    /// <inheritdoc />
    /// <remarks>Budgets in MACs or fractions use the model's search. A millisecond budget uses ONNX Runtime latencies
    /// of this fast path (measured on first use, see <see cref="MeasureLatency"/>), not TorchSharp's.</remarks>
    /// <exception cref="BudgetInfeasibleException">The budget is below the smallest configuration's cost.</exception>
    public ResolvedConfiguration SelectConfiguration(Budget budget, IReadOnlyList<double> taskPreferences)
    {
        if (budget.Unit != BudgetUnit.Milliseconds) return Inner.SelectConfiguration(budget, taskPreferences);
        ConfigurationSearch search = _latencySearch ?? MeasureLatencySearch(20);
        return search.Search(budget, taskPreferences).Selected;
    }

    /// <summary>
    /// Measures (once; later calls return the same table) the batch-1 latency table of this fast path on this machine:
    /// the encoder alone at each encoder option and each decoder alone at each (encoder option, width), each exported
    /// as its own ONNX graph and run in ONNX Runtime with these session settings, plus whole configurations through
    /// <see cref="Predict(ReadOnlySpan{float}, int, ResolvedConfiguration)"/> to fit the per-call overhead (see <see cref="LatencyTable.Measure"/>). Millisecond budgets
    /// then choose by these latencies. Takes (E + T x E x W) session creations and about a second for the default
    /// network.
    /// </summary>
    /// <param name="repeats">Measurements per factor (median kept), each the median of 5 timed runs after one warm-up.</param>
    public LatencyTable MeasureLatency(int repeats = 20) => MeasureLatencySearch(repeats).Latency!;

    private ConfigurationSearch MeasureLatencySearch(int repeats)
    {
        lock (_latencyLock)
        {
            if (_latencySearch is not null) return _latencySearch;
            MultiTaskNetwork net = Inner.Network;
            var disposables = new List<IDisposable>();
            try
            {
                using var runOptions = new RunOptions();
                int size = Channels * Height * Width;
                float[] zeros = new float[size];
                Func<double> Runner(byte[] onnx, string inputName, float[] input, long[] shape)
                {
                    InferenceSession session = CreateInference(onnx);
                    disposables.Add(session);
                    OrtValue value = OrtValue.CreateTensorValueFromMemory(input, shape);
                    disposables.Add(value);
                    string[] inputs = { inputName }, outputs = session.OutputMetadata.Keys.ToArray();
                    OrtValue[] values = { value };
                    return () => TimeMs(() =>
                    {
                        using IDisposableReadOnlyCollection<OrtValue> o = session.Run(runOptions, inputs, values, outputs);
                    });
                }
                var encoders = Enumerable.Range(0, Costs.EncoderOptionCount)
                    .Select(e => Runner(MultiTaskOnnxExporter.EncoderOnly(net, e), "Features", zeros, new long[] { 1, size })).ToArray();
                var decoders = new Dictionary<(int, int, int), Func<double>>();
                double Decoder(int t, int e, int d)
                {
                    if (!decoders.TryGetValue((t, e, d), out Func<double>? run))
                    {
                        (int c, int h, int w) = net.EncoderOutputShape(e);
                        byte[] graph;
                        try
                        {
                            graph = MultiTaskOnnxExporter.DecoderOnly(net, t, e, d);
                            run = Runner(graph, MultiTaskOnnxExporter.FeaturesName, new float[c * h * w], new long[] { 1, c, h, w });
                        }
                        catch (NotSupportedException)
                        {
                            // A head that reads several encoder stages (FPN-lite): encoder + this decoder, minus the encoder.
                            Func<double> both = Runner(MultiTaskOnnxExporter.EncoderAndDecoder(net, t, e, d), "Features", zeros, new long[] { 1, size });
                            Func<double> encoder = encoders[e];
                            run = () => Math.Max(0, both() - encoder());
                        }
                        decoders[(t, e, d)] = run;
                    }
                    return run();
                }
                double Whole(WidthConfiguration c) => TimeMs(() => Predict(zeros, 1, c));
                LatencyTable table = LatencyTable.Measure(Costs, e => encoders[e](), Decoder, Whole, repeats);
                return _latencySearch = new ConfigurationSearch(Costs, Inner.Calibration, table);
            }
            finally
            {
                foreach (IDisposable d in disposables) d.Dispose();
            }
        }
    }

    /// <summary>Median of 5 timed runs after one warm-up, ms.</summary>
    private static double TimeMs(Action run)
    {
        run();
        var samples = new double[5];
        for (int i = 0; i < samples.Length; i++)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            run();
            samples[i] = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(samples);
        return samples[2];
    }

    /// <summary>Exports and loads <paramref name="configurations"/> now (for example every configuration on the
    /// Pareto front, or all of <see cref="CostTable"/>'s), so no request pays for it later.</summary>
    /// <exception cref="ArgumentException">A configuration does not fit the network.</exception>
    public void Prepare(IEnumerable<WidthConfiguration> configurations)
    {
        ArgumentNullException.ThrowIfNull(configurations);
        foreach (WidthConfiguration c in configurations) _ = SessionFor(Costs.Resolve(c));
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">Wrong number of floats, or a configuration that does not fit.</exception>
    public float[][] Predict(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int size = Channels * Height * Width;
        if (count < 1 || images.Length != count * size)
            throw new ArgumentException($"Expected {count} images of (C, H, W) = ({Channels}, {Height}, {Width}) = {count * size} floats; got {images.Length}.", nameof(images));
        return SessionFor(configuration).Run(images, count, size);
    }

    /// <summary>Runs <paramref name="configuration"/> given as multipliers (see <see cref="Predict(ReadOnlySpan{float}, int, ResolvedConfiguration)"/>).</summary>
    /// <exception cref="ArgumentException">Wrong number of floats, or a configuration that does not fit.</exception>
    public float[][] Predict(ReadOnlySpan<float> images, int count, WidthConfiguration configuration) =>
        Predict(images, count, Costs.Resolve(configuration));

    /// <summary>Writes the TorchSharp model (the same bytes as <see cref="ControllableMultiTaskModel.Save(Stream)"/>);
    /// a zip holding a transformer over this model loads back into one (its reader is always registered). No ONNX graph
    /// is saved: sessions are rebuilt on first use after loading.</summary>
    public void Save(Stream stream) => Inner.Save(stream);

    /// <summary>Disposes the sessions, and the TorchSharp model when this object owns it.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (Lazy<OnnxSession> s in _sessions.Values)
            if (s.IsValueCreated) s.Value.Dispose();
        _sessions.Clear();
        if (_ownsModel) Inner.Dispose();
    }

    private OnnxSession SessionFor(ResolvedConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (_sessions.TryGetValue(configuration, out Lazy<OnnxSession>? cached)) return cached.Value;
        if (!Costs.Fits(configuration))
            throw new ArgumentException($"Configuration {configuration} does not fit this model's cost table.", nameof(configuration));
        return _sessions.GetOrAdd(configuration, c => new Lazy<OnnxSession>(() => CreateSession(c), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    private OnnxSession CreateSession(ResolvedConfiguration configuration)
    {
        byte[] onnx;
        lock (_exportLock) onnx = MultiTaskOnnxExporter.ToBytes(Inner, configuration.Widths);
        return new OnnxSession(onnx, Tasks.Select(t => MultiTaskOnnxExporter.ScoreOutputPrefix + t.Name).ToArray(), _options.IntraOpThreads, _options.OptimizationLevel);
    }

    private InferenceSession CreateInference(byte[] onnx)
    {
        using var so = new SessionOptions { GraphOptimizationLevel = _options.OptimizationLevel };
        if (_options.IntraOpThreads > 0)
        {
            so.IntraOpNumThreads = _options.IntraOpThreads;
            so.InterOpNumThreads = 1;
        }
        return new InferenceSession(onnx, so);
    }
}

/// <summary>Whether ONNX Runtime's native library loads in this process (checked once).</summary>
internal static class OnnxRuntimeAvailability
{
    private static readonly Lazy<string?> Check = new(() =>
    {
        try
        {
            _ = OrtEnv.Instance();
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or BadImageFormatException or OnnxRuntimeException)
        {
            Exception inner = e;
            while (inner.InnerException is not null) inner = inner.InnerException;
            return $"ONNX Runtime's native library could not be loaded ({inner.GetType().Name}: {inner.Message}); add the package Microsoft.ML.OnnxRuntime to the application";
        }
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Null when ONNX Runtime works here; otherwise why not and what to do.</summary>
    public static string? Problem => Check.Value;
}
