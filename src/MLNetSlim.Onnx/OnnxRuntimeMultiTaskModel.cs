using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Network;

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
/// table, calibration table and search choose the configuration for a budget and task weights. Wrap it in a
/// <see cref="ControllableMultiTaskTransformer"/> (or call <see cref="OnnxServingExtensions.WithOnnxRuntime"/>) to
/// serve it in ML.NET with <c>Budget</c>, <c>TaskWeights</c> and everything else as before.
/// </summary>
/// <remarks>
/// <para>Outputs equal the TorchSharp model's within float rounding (the parity tests: 3e-7 on probabilities).
/// The first prediction at a configuration pays its export and session creation (tens of milliseconds for the
/// default network); <see cref="Prepare"/> does it ahead of time. The TorchSharp model stays in memory (it is the
/// source of every export).</para>
/// <para>Needs ONNX Runtime's native library in the application: reference <c>Microsoft.ML.OnnxRuntime</c>.</para>
/// <para>Millisecond budgets still use the TorchSharp model's latency table
/// (<see cref="ControllableMultiTaskModel.MeasureLatency"/>).</para>
/// <para><see cref="Predict"/> may be called from several threads (ONNX Runtime sessions are thread-safe).</para>
/// </remarks>
public sealed class OnnxRuntimeMultiTaskModel : IMultiTaskModel, IDisposable
{
    private readonly ConcurrentDictionary<WidthConfiguration, Lazy<Session>> _sessions = new();
    private readonly OnnxRuntimeServingOptions _options;
    private readonly object _exportLock = new();
    private readonly bool _ownsModel;
    private bool _disposed;

    static OnnxRuntimeMultiTaskModel() => RegisterLoader();

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
        _sessions.Where(p => p.Value.IsValueCreated).Select(p => p.Key).ToArray();

    /// <inheritdoc />
    public WidthConfiguration SelectConfiguration(Budget budget, IReadOnlyList<double> taskPreferences) =>
        Inner.SelectConfiguration(budget, taskPreferences);

    /// <summary>Exports and loads <paramref name="configurations"/> now (for example every configuration on the
    /// Pareto front, or all of <see cref="CostTable"/>'s), so no request pays for it later.</summary>
    /// <exception cref="ArgumentException">A configuration does not fit the network.</exception>
    public void Prepare(IEnumerable<WidthConfiguration> configurations)
    {
        ArgumentNullException.ThrowIfNull(configurations);
        foreach (WidthConfiguration c in configurations) _ = SessionFor(c);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">Wrong number of floats, or a configuration that does not fit.</exception>
    public float[][] Predict(ReadOnlySpan<float> images, int count, WidthConfiguration configuration)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int size = Channels * Height * Width;
        if (count < 1 || images.Length != count * size)
            throw new ArgumentException($"Expected {count} images of (C, H, W) = ({Channels}, {Height}, {Width}) = {count * size} floats; got {images.Length}.", nameof(images));
        Session s = SessionFor(configuration);
        float[] input = images.ToArray();
        using OrtValue value = OrtValue.CreateTensorValueFromMemory(input, new long[] { count, size });
        using IDisposableReadOnlyCollection<OrtValue> outputs = s.Inference.Run(s.RunOptions, s.InputNames, new[] { value }, s.OutputNames);
        var result = new float[outputs.Count][];
        int t = 0;
        foreach (OrtValue o in outputs) result[t++] = o.GetTensorDataAsSpan<float>().ToArray();
        return result;
    }

    /// <summary>Writes the TorchSharp model (the same bytes as <see cref="ControllableMultiTaskModel.Save(Stream)"/>);
    /// a zip holding a transformer over this model loads back into one (the loader is registered when this type is
    /// first used, or by <see cref="RegisterLoader"/>).</summary>
    public void Save(Stream stream) => Inner.Save(stream);

    /// <summary>Registers the reader of this model type with <see cref="MultiTaskModelLoaders"/>, so that
    /// <c>mlContext.Model.Load</c> can read zips saved from a transformer over an <see cref="OnnxRuntimeMultiTaskModel"/>.
    /// Idempotent; call it before loading such a zip in a process that has not used this type yet.</summary>
    public static void RegisterLoader() =>
        MultiTaskModelLoaders.Register(stream => new OnnxRuntimeMultiTaskModel(ControllableMultiTaskModel.Load(stream)));

    /// <summary>Disposes the sessions, and the TorchSharp model when this object owns it.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (Lazy<Session> s in _sessions.Values)
            if (s.IsValueCreated) s.Value.Dispose();
        _sessions.Clear();
        if (_ownsModel) Inner.Dispose();
    }

    private Session SessionFor(WidthConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (_sessions.TryGetValue(configuration, out Lazy<Session>? cached)) return cached.Value;
        configuration.Validate(Costs.Widths, Tasks.Count, Inner.Network.EncoderStageCount);
        return _sessions.GetOrAdd(configuration, c => new Lazy<Session>(() => CreateSession(c), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    private Session CreateSession(WidthConfiguration configuration)
    {
        byte[] onnx;
        lock (_exportLock) onnx = MultiTaskOnnxExporter.ToBytes(Inner, configuration);
        using var so = new SessionOptions { GraphOptimizationLevel = _options.OptimizationLevel };
        if (_options.IntraOpThreads > 0)
        {
            so.IntraOpNumThreads = _options.IntraOpThreads;
            so.InterOpNumThreads = 1;
        }
        var inference = new InferenceSession(onnx, so);
        return new Session(inference, new[] { inference.InputMetadata.Keys.Single() },
            Tasks.Select(t => MultiTaskOnnxExporter.ScoreOutputPrefix + t.Name).ToArray());
    }

    private sealed class Session(InferenceSession inference, string[] inputNames, string[] outputNames) : IDisposable
    {
        public InferenceSession Inference { get; } = inference;

        public RunOptions RunOptions { get; } = new();

        public string[] InputNames { get; } = inputNames;

        public string[] OutputNames { get; } = outputNames;

        public void Dispose()
        {
            RunOptions.Dispose();
            Inference.Dispose();
        }
    }
}

/// <summary>Serving a transformer through ONNX Runtime.</summary>
public static class OnnxServingExtensions
{
    /// <summary>
    /// A new transformer over the same trained model with the same feature column, budget, task weights and batch size,
    /// whose forward passes run through ONNX Runtime (<see cref="OnnxRuntimeMultiTaskModel"/>): each configuration the
    /// control selects is exported once and cached. The new <see cref="OnnxRuntimeMultiTaskModel"/> does not own the
    /// original model: dispose it (<c>((IDisposable)result.Model).Dispose()</c>) to free its sessions, and the original
    /// model as before.
    /// </summary>
    /// <exception cref="NotSupportedException">The transformer's model is not a <see cref="ControllableMultiTaskModel"/>.</exception>
    public static ControllableMultiTaskTransformer WithOnnxRuntime(this ControllableMultiTaskTransformer transformer, OnnxRuntimeServingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(transformer);
        ControllableMultiTaskModel model = transformer.Model switch
        {
            ControllableMultiTaskModel m => m,
            OnnxRuntimeMultiTaskModel o => o.Inner,
            _ => throw new NotSupportedException($"ONNX Runtime serving needs a ControllableMultiTaskModel; this transformer holds a {transformer.Model.GetType().FullName}."),
        };
        return new ControllableMultiTaskTransformer(new OnnxRuntimeMultiTaskModel(model, options, ownsModel: false), transformer.FeatureColumnName,
            transformer.Budget, transformer.TaskWeights) { BatchSize = transformer.BatchSize };
    }
}
