using System.Runtime.CompilerServices;
using System.Globalization;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetSlim.Control;
using MLNetSlim.Architecture;
using MLNetSlim.Model;
using MLNetSlim.Onnx;
using MLNetSlim.Runtime;
using MLNetSlim.Serving;
using MLNetSlim.Training;

namespace MLNetSlim.MLNet;

/// <summary>
/// Runs a trained controllable multi-task network on an image column and adds, per task T with K classes,
/// <c>Score.T</c> (Vector&lt;Single, K&gt; of class probabilities, SlotNames = class names) and <c>PredictedLabel.T</c>
/// (Key&lt;UInt32, K&gt;, the arg-max class, KeyValues = class names, so <c>MapKeyToValue</c> works after it). Input
/// columns pass through at the same indices.
/// </summary>
/// <remarks>
/// <para><b>Runtime control.</b> <see cref="SetControl"/> sets the budget and the task weights together; it runs the
/// network's search at once and publishes budget, weights, configuration and MACs as one immutable
/// <see cref="ControlSnapshot"/> (<see cref="Control"/>). A budget the network cannot meet or bad weights throw from
/// the call and leave the previous control unchanged. The <see cref="Budget"/> and <see cref="TaskWeights"/> setters
/// are shorthands that keep the other half. A prediction reads the snapshot once, so it runs at the old pair or the
/// new pair, never a mix. A change takes effect for every row cursor created after it (the next enumeration of a
/// <see cref="Transform"/> result; a cursor already open keeps the snapshot it started with, so one pass is
/// consistent) and for the next <c>PredictionEngine.Predict</c> call of existing and new prediction engines.</para>
/// <para><b>Per-row control.</b> When the input has a column named <see cref="BudgetColumnName"/> (default "Budget",
/// Single, a fraction of the full network's MACs in (0, 1]) and/or <see cref="TaskWeightsColumnName"/> (default
/// "TaskWeights", Vector&lt;Single&gt; with one weight per task in task order, known or variable size), each row runs
/// at the configuration the search picks for its own budget and weights. A row "lacks" a value when the schema has no
/// such column, or, for the weights, when its vector is empty (length 0): that half comes from <see cref="Control"/>.
/// A budget column has no missing value: every row's budget must be valid. Bad row values throw
/// <see cref="ArgumentOutOfRangeException"/> (NaN, &lt;= 0 or &gt; 1 budgets; negative, NaN, infinite or all-zero
/// weights; a vector whose length is neither 0 nor the number of tasks) or <see cref="BudgetInfeasibleException"/>
/// (a budget below the cheapest configuration); each message names the column, the row and its value, and the valid
/// range (for an infeasible budget, the smallest feasible one). Configurations are resolved through a small
/// thread-safe cache (at most <see cref="ConfigurationCacheCapacity"/> entries). A <see cref="Transform"/> batch whose
/// rows ask for different configurations runs one forward pass per configuration; rows come out in input order.</para>
/// <para><b>Threads.</b> There is no lock around the forward pass: prediction engines and cursors created from one
/// transformer run the network concurrently (the model's <see cref="IMultiTaskModel.Predict"/> is thread-safe). ML.NET's
/// <c>PredictionEngine</c> itself is not thread-safe: use one engine per thread, or a pool of engines over this one
/// transformer. <see cref="IntraOpThreads"/> sets torch's intra-op threads of the thread that runs each forward pass
/// (e.g. 1 per engine when engines run in parallel). See docs/mlnet-integration.md.</para>
/// <para><b>Inference path.</b> By default forward passes run through ONNX Runtime: each configuration the control picks
/// is exported once (weights sliced, batch norm folded) and cached as a session; scores equal the TorchSharp forward's
/// within float rounding. <see cref="UseOnnxRuntime"/> turns it off; <see cref="InferencePath"/> says which path runs
/// and, on TorchSharp, why (docs/onnx.md). Columns, control and errors are the same on both paths (one shared mapper,
/// also used by the serving transformer of MLNetSlim.Serving).</para>
/// <para><b>Batches.</b> <see cref="Transform"/> reads <see cref="BatchSize"/> rows ahead and runs one forward pass per
/// batch and configuration; the prediction engine path runs one forward pass per row.</para>
/// <para><b>Disposal.</b> The transformer does not own or dispose the model (ML.NET disposes transformers with
/// their prediction engines); dispose the model yourself if it holds native memory and you created it.</para>
/// </remarks>
/// <example>
/// Atomic control, and per-row control through input columns:
/// <code language="csharp">
/// ControllableMultiTaskTransformer model = ...; // Fit, or mlContext.Model.Load + find it in the chain
///
/// // One call sets both halves; a concurrent prediction sees the old pair or the new pair.
/// model.SetControl(Budget.FractionOfFull(0.4), new Dictionary&lt;string, double&gt; { ["Digit"] = 3, ["Fashion"] = 1 });
/// ControlSnapshot now = model.Control;   // budget, weights, configuration, MACs, read together
/// Console.WriteLine($"{now.Configuration}: {now.Macs} MACs");
///
/// // Per row: add the columns to the input class (names: model.BudgetColumnName, model.TaskWeightsColumnName).
/// public sealed class Input
/// {
///     [VectorType(784)] public float[] Features { get; set; } = [];
///     public float Budget { get; set; } = 1f;                      // fraction of full MACs, (0, 1]
///     public float[] TaskWeights { get; set; } = [];               // one per task in task order; empty = model.Control's
/// }
/// var engine = mlContext.Model.CreatePredictionEngine&lt;Input, Output&gt;(model);
/// Output cheap = engine.Predict(new Input { Features = pixels, Budget = 0.3f, TaskWeights = [1f, 0f] });
/// </code>
/// </example>
public sealed class ControllableMultiTaskTransformer : ITransformer, IMultiTaskScorer
{
    /// <summary>Prefix of the per-task score columns: <c>Score.&lt;Task&gt;</c>.</summary>
    public const string ScoreColumnPrefix = "Score.";

    /// <summary>Prefix of the per-task predicted label columns: <c>PredictedLabel.&lt;Task&gt;</c>.</summary>
    public const string PredictedLabelColumnPrefix = "PredictedLabel.";

    /// <summary>Default of <see cref="BudgetColumnName"/>.</summary>
    public const string DefaultBudgetColumnName = "Budget";

    /// <summary>Default of <see cref="TaskWeightsColumnName"/>.</summary>
    public const string DefaultTaskWeightsColumnName = "TaskWeights";

    /// <summary>Most (budget, weights) answers the per-row configuration cache keeps; when full it starts over.</summary>
    public const int ConfigurationCacheCapacity = MultiTaskScoring.ConfigurationCacheCapacity;

    private readonly object _controlLock = new();
    private readonly ControllableMultiTaskEstimator.Options? _trainingOptions;
    private readonly MultiTaskScoring _scoring;
    private volatile ControlSnapshot _control;
    private readonly object _engineLock = new();
    private volatile InferenceEngine? _engine;
    private volatile string? _exportProblem;
    private bool _useOnnxRuntime = true;
    private int _batchSize = 64;
    private int _intraOpThreads;

    /// <summary>Creates a transformer over an existing model.</summary>
    /// <param name="model">The network. Its tasks must all be <see cref="TaskKind.Classification"/>.</param>
    /// <param name="featureColumnName">The image column: Vector&lt;Single, C*H*W&gt;, (C, H, W) order.</param>
    /// <param name="budget">Initial budget; <see cref="Budget.Full"/> when null.</param>
    /// <param name="taskWeights">Initial task weights by task name; every task 1.0 when null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    /// <exception cref="ArgumentException">Bad budget or weights (see <see cref="SetControl"/>).</exception>
    public ControllableMultiTaskTransformer(IMultiTaskModel model, string featureColumnName = "Features", Budget? budget = null,
        IReadOnlyDictionary<string, double>? taskWeights = null)
        : this(model, featureColumnName, budget, taskWeights, null)
    {
    }

    internal ControllableMultiTaskTransformer(IMultiTaskModel model, string featureColumnName, Budget? budget,
        IReadOnlyDictionary<string, double>? taskWeights, ControllableMultiTaskEstimator.Options? trainingOptions)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(featureColumnName);
        Model = model;
        FeatureColumnName = featureColumnName;
        _trainingOptions = trainingOptions?.Clone();
        if (trainingOptions is not null)
        {
            BudgetColumnName = trainingOptions.BudgetColumnName;
            TaskWeightsColumnName = trainingOptions.TaskWeightsColumnName;
            _useOnnxRuntime = trainingOptions.UseOnnxRuntime;
        }
        _control = Select(budget ?? Budget.Full, WeightsInTaskOrder(taskWeights));
        _scoring = new MultiTaskScoring(this);
    }

    /// <summary>The network.</summary>
    public IMultiTaskModel Model { get; }

    /// <summary>The image column read by the network.</summary>
    public string FeatureColumnName { get; }

    /// <summary>
    /// The optional per-row budget column (Single, a fraction of the full network's MACs in (0, 1]); default "Budget".
    /// Used when the input schema has it; null or empty turns per-row budgets off. Saved with the model. Read when a
    /// data view or a row mapper (prediction engine) is created.
    /// </summary>
    public string? BudgetColumnName { get; set; } = DefaultBudgetColumnName;

    /// <summary>
    /// The optional per-row task weights column (Vector&lt;Single&gt;, one non-negative weight per task in task order;
    /// an empty vector means "use <see cref="Control"/>'s weights"); default "TaskWeights". Used when the input schema
    /// has it; null or empty turns per-row weights off. Saved with the model. Read when a data view or a row mapper is
    /// created.
    /// </summary>
    public string? TaskWeightsColumnName { get; set; } = DefaultTaskWeightsColumnName;

    /// <summary>The tasks, in decoder order.</summary>
    public IReadOnlyList<TaskDefinition> Tasks => Model.Tasks;

    /// <summary>The options the model was trained with (a copy), or null when made from an existing model.</summary>
    public ControllableMultiTaskEstimator.Options? TrainingOptions => _trainingOptions?.Clone();

    /// <summary>
    /// The current control: budget, task weights, chosen configuration and its MACs, as one immutable value (read them
    /// from one snapshot to get a consistent set).
    /// </summary>
    public ControlSnapshot Control => _control;

    /// <summary>
    /// Sets the budget and the task weights together (atomically): runs the search once and publishes the new
    /// <see cref="Control"/>. A concurrent prediction runs at the previous pair or at this one, never at a mix.
    /// </summary>
    /// <param name="budget">The compute budget.</param>
    /// <param name="taskWeights">Task preferences by task name (non-negative, need not sum to 1; tasks not listed get
    /// 0); null for every task 1.0.</param>
    /// <exception cref="BudgetInfeasibleException">The network cannot meet the budget (the message states the
    /// smallest feasible one); the control is unchanged.</exception>
    /// <exception cref="ArgumentException">An unknown task name (the message names it and the known tasks); the control
    /// is unchanged.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative, NaN or infinite weight, or all weights 0; the control
    /// is unchanged.</exception>
    /// <example>
    /// <code language="csharp">
    /// transformer.SetControl(Budget.FractionOfFull(0.5), new Dictionary&lt;string, double&gt; { ["Digit"] = 1, ["Fashion"] = 0.2 });
    /// ControlSnapshot c = transformer.Control; // c.Configuration, c.Macs belong to exactly this pair
    /// </code>
    /// </example>
    public void SetControl(Budget budget, IReadOnlyDictionary<string, double>? taskWeights)
    {
        ControlSnapshot next = Select(budget, WeightsInTaskOrder(taskWeights));
        lock (_controlLock) _control = next;
    }

    /// <summary>The compute budget (<c>Control.Budget</c>). Default <see cref="Budget.Full"/>. Setting it is
    /// <c>SetControl(value, TaskWeights)</c>, done atomically.</summary>
    /// <exception cref="BudgetInfeasibleException">On set: the network cannot meet the budget; the control is
    /// unchanged.</exception>
    /// <example>
    /// <code>
    /// slim.Budget = Budget.FractionOfFull(0.5);   // or Budget.Parse("50%"), Budget.Macs(1.2e7), Budget.Milliseconds(2)
    /// Console.WriteLine($"{slim.Configuration}: {slim.ConfigurationMacs:N0} of {slim.FullMacs:N0} MACs");
    /// </code>
    /// </example>
    public Budget Budget
    {
        get => _control.Budget;
        set
        {
            lock (_controlLock) _control = Select(value, _control.Weights);
        }
    }

    /// <summary>
    /// Task preferences by task name (<c>Control.TaskWeights</c>; non-negative, need not sum to 1; tasks not listed get
    /// 0). Default: every task 1.0. Getting returns a copy listing every task. Setting it is
    /// <c>SetControl(Budget, value)</c>, done atomically.
    /// </summary>
    /// <exception cref="ArgumentException">On set: an unknown task name (the message names it and the known tasks).</exception>
    /// <exception cref="ArgumentOutOfRangeException">On set: a negative, NaN or infinite weight, or all weights 0.</exception>
    /// <exception cref="ArgumentNullException">On set: null.</exception>
    /// <example>
    /// <code>
    /// slim.TaskWeights = new Dictionary&lt;string, double&gt; { ["digit"] = 0.8, ["fashion"] = 0.2 }; // unlisted tasks weigh 0
    /// </code>
    /// </example>
    public IReadOnlyDictionary<string, double> TaskWeights
    {
        get => _control.TaskWeights;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            double[] w = WeightsInTaskOrder(value);
            lock (_controlLock) _control = Select(_control.Budget, w);
        }
    }

    /// <summary>The width configuration chosen for the current control (<c>Control.Configuration</c>).</summary>
    /// <example>
    /// <code>
    /// slim.Budget = Budget.FractionOfFull(0.3);
    /// Console.WriteLine(slim.Configuration); // e.g. "enc=0.5 dec=0.75,0.25"
    /// </code>
    /// </example>
    public WidthConfiguration Configuration => _control.Configuration;

    /// <summary>Exact cost of <see cref="Configuration"/>, in multiply-accumulates (MACs) per image (<c>Control.Macs</c>).</summary>
    /// <example>
    /// <code>
    /// double fraction = (double)slim.ConfigurationMacs / slim.FullMacs; // at most the budget's fraction
    /// </code>
    /// </example>
    public long ConfigurationMacs => _control.Macs;

    /// <summary>Cost of the full network (every width 1.0), in MACs per image.</summary>
    public long FullMacs => Model.Costs.FullMacs;

    /// <summary>Rows per forward pass in <see cref="Transform"/> (default 64, at least 1).</summary>
    /// <exception cref="ArgumentOutOfRangeException">On set: less than 1.</exception>
    public int BatchSize
    {
        get => _batchSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _batchSize = value;
        }
    }

    /// <summary>
    /// Torch intra-op threads for each forward pass, applied to the thread that runs it (prediction engine call or
    /// cursor); 0 (default) leaves the thread's setting alone. With several engines predicting in parallel on a
    /// machine with few cores, 1 avoids oversubscription. Torch keeps this count per thread (and makes the last value
    /// set the default for threads that start using torch later); see docs/mlnet-integration.md. Not saved.
    /// </summary>
    /// <remarks>On the ONNX Runtime path (<see cref="UseOnnxRuntime"/>) it is the sessions' intra-op thread count
    /// instead (0: ONNX Runtime's default, one per core); changing it rebuilds the sessions on next use.</remarks>
    /// <exception cref="ArgumentOutOfRangeException">On set: negative.</exception>
    public int IntraOpThreads
    {
        get => _intraOpThreads;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _intraOpThreads = value;
        }
    }

    /// <summary>
    /// Whether forward passes run through ONNX Runtime (default true; after <c>Fit</c> or load:
    /// <see cref="ControllableMultiTaskEstimator.Options.UseOnnxRuntime"/>). Each configuration the control picks is
    /// exported once and cached as an ONNX Runtime session (the first prediction at a configuration pays tens of
    /// milliseconds for it); scores equal the TorchSharp forward's within float rounding (parity tests: 1e-4), and
    /// millisecond budgets use ONNX Runtime's own latencies (measured on first use). Where ONNX Runtime cannot serve the
    /// model (its native library does not load: add the <c>Microsoft.ML.OnnxRuntime</c> package; the model is not a
    /// <see cref="ControllableMultiTaskModel"/>; it runs on a GPU; a custom stage does not export) the transformer uses
    /// TorchSharp and <see cref="InferencePath"/> says why. False: always TorchSharp. Not saved in the transformer's
    /// record (the training options carry it); nothing ONNX is saved: sessions are rebuilt after loading. The sessions
    /// hold the weights as they were when each configuration was first run: after changing the model's weights (your
    /// own training code), set this property again (any value) to drop them.
    /// </summary>
    public bool UseOnnxRuntime
    {
        get => _useOnnxRuntime;
        set
        {
            lock (_engineLock)
            {
                _useOnnxRuntime = value;
                _engine = null;
            }
            // A millisecond budget depends on the path's latencies: choose again.
            lock (_controlLock)
                if (_control.Budget.Unit == BudgetUnit.Milliseconds) _control = Select(_control.Budget, _control.Weights);
        }
    }

    /// <summary>Which path runs the forward passes, and why: "ONNX Runtime (...)" or "TorchSharp (reason)", e.g.
    /// "TorchSharp (UseOnnxRuntime is false)" or "TorchSharp (ONNX Runtime's native library could not be loaded ...)".</summary>
    public string InferencePath => Engine().Description;

    /// <summary>Always true: the transformer maps each row independently.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>Name of task <paramref name="task"/>'s score column.</summary>
    public static string ScoreColumnName(string task) => ScoreColumnPrefix + task;

    /// <summary>Name of task <paramref name="task"/>'s predicted label column.</summary>
    public static string PredictedLabelColumnName(string task) => PredictedLabelColumnPrefix + task;

    /// <summary>The input schema plus, per task, <c>Score.T</c> and <c>PredictedLabel.T</c>.</summary>
    /// <param name="inputSchema">Must have <see cref="FeatureColumnName"/> as Vector&lt;Single, C*H*W&gt;; may have
    /// the per-row control columns (<see cref="BudgetColumnName"/>, <see cref="TaskWeightsColumnName"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException">The features column is missing or of the wrong type or size, or a
    /// control column has the wrong type; the message names the column, the expected and the actual type.</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _scoring.GetOutputSchema(inputSchema, nameof(inputSchema));

    /// <summary>A row mapper for <paramref name="inputSchema"/> (the single-row path used by prediction engines).</summary>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="GetOutputSchema"/>.</exception>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return _scoring.GetRowToRowMapper(inputSchema);
    }

    /// <summary>Lazily applies the network to <paramref name="input"/>; the forward passes run, in batches, as the
    /// result is enumerated.</summary>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="GetOutputSchema"/>.</exception>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return _scoring.Transform(input);
    }

    // ---- control ----------------------------------------------------------------------------------------------------

    private ControlSnapshot Select(Budget budget, double[] weights) =>
        new(budget, weights, Tasks, Search(budget, weights));

    /// <summary>The search; a millisecond budget uses the latencies of the path that runs the forward passes.</summary>
    private ResolvedConfiguration Search(Budget budget, double[] weights) =>
        (budget.Unit == BudgetUnit.Milliseconds ? Engine().Runner : Model).SelectConfiguration(budget, weights);

    private double[] WeightsInTaskOrder(IReadOnlyDictionary<string, double>? taskWeights) =>
        taskWeights is null
            ? Enumerable.Repeat(1.0, Tasks.Count).ToArray()
            : TaskPreferences.InTaskOrder(taskWeights, Tasks.Select(t => t.Name).ToArray());

    // ---- the shared scoring mapper (MLNetSlim.Serving.MultiTaskScoring) ---------------------------------------------

    int IMultiTaskScorer.Channels => Model.Channels;

    int IMultiTaskScorer.Height => Model.Height;

    int IMultiTaskScorer.Width => Model.Width;

    ScoringControl IMultiTaskScorer.CurrentControl
    {
        get
        {
            ControlSnapshot c = _control;
            return new ScoringControl(c.Budget, c.Weights, c.Selected);
        }
    }

    ResolvedConfiguration IMultiTaskScorer.SelectConfiguration(Budget budget, double[] weights) => Search(budget, weights);

    float[][] IMultiTaskScorer.Forward(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration) =>
        Forward(images, count, configuration);

    /// <summary>One forward pass through the current path (<see cref="InferencePath"/>); on TorchSharp with the calling
    /// thread's torch settings (see <see cref="IntraOpThreads"/>).</summary>
    internal float[][] Forward(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration)
    {
        InferenceEngine engine = Engine();
        if (engine.IsOnnxRuntime)
        {
            try
            {
                return engine.Runner.Predict(images, count, configuration);
            }
            catch (NotSupportedException e) when (!ReferenceEquals(engine.Runner, Model))
            {
                // A custom stage or head that cannot be exported: TorchSharp from now on, and say why.
                _exportProblem = $"the network cannot be exported to ONNX: {e.Message}";
                lock (_engineLock) _engine = null;
            }
        }
        if (_intraOpThreads > 0) TorchThreads.EnsureForCurrentThread(_intraOpThreads);
        return Model.Predict(images, count, configuration);
    }

    /// <summary>The path that runs forward passes: an ONNX Runtime model over <see cref="Model"/>, or the model itself.</summary>
    private sealed record InferenceEngine(IMultiTaskModel Runner, bool IsOnnxRuntime, string Description, int Threads);

    private InferenceEngine Engine()
    {
        InferenceEngine? e = _engine;
        if (e is not null && e.Threads == _intraOpThreads) return e;
        lock (_engineLock)
        {
            e = _engine;
            if (e is not null && e.Threads == _intraOpThreads) return e;
            return _engine = NewEngine(_intraOpThreads);
        }
    }

    private InferenceEngine NewEngine(int threads)
    {
        InferenceEngine Torch(string reason) => new(Model, false, $"TorchSharp ({reason})", threads);
        if (!_useOnnxRuntime) return Torch("UseOnnxRuntime is false");
        if (Model is OnnxRuntimeMultiTaskModel) return new(Model, true, "ONNX Runtime (the model is an OnnxRuntimeMultiTaskModel, with its own session settings)", threads);
        if (Model is not ControllableMultiTaskModel m)
            return Torch($"the model is a {Model.GetType().Name}; only a ControllableMultiTaskModel exports to ONNX");
        if (!m.Device.StartsWith("cpu", StringComparison.OrdinalIgnoreCase))
            return Torch($"the model runs on '{m.Device}'; the ONNX Runtime path runs on the CPU");
        if (_exportProblem is string p) return Torch(p);
        if (OnnxRuntimeAvailability.Problem is string missing) return Torch(missing);
        var fast = new OnnxRuntimeMultiTaskModel(m, new OnnxRuntimeServingOptions { IntraOpThreads = threads }, ownsModel: false);
        return new(fast, true, $"ONNX Runtime (each configuration exported once and cached; intra-op threads {(threads > 0 ? threads.ToString(CultureInfo.InvariantCulture) : "default")})", threads);
    }

    // ---- save / load --------------------------------------------------------------------------------------------------

    private const string ModelEntryName = "MultiTaskModel.bin";

    /// <summary>Format 1.3: the 1.2 record inside an integrity frame (length + SHA-256), and the model entry framed the
    /// same way (docs/model-format.md).</summary>
    private const uint FormatVersion = 0x00010003;

    /// <summary>Format 1.2: 1.1 plus the per-row control column names; no checksums. Still readable.</summary>
    internal const uint FormatVersion12 = 0x00010002;

    /// <summary>Format 1.1 (before per-row control): still readable; its column names default to "Budget" and
    /// "TaskWeights".</summary>
    internal const uint FormatVersion11 = 0x00010001;

    /// <summary>Loader signature, looked up in an MLContext's component catalog after <c>AddMLNetSlim()</c>.</summary>
    internal const string LoaderSignature = "MLNetSlimControllableMT";

    internal static ModelFormatInfo Format => FormatOf(FormatVersion);

    private static ModelFormatInfo FormatOf(uint written) => new(
        ModelSignature: "MLNSCMTT",
        VersionWritten: written,
        VersionReadable: written,
        VersionWeCanReadBack: FormatVersion11,
        LoaderSignature: LoaderSignature,
        LoaderAssemblyName: typeof(ControllableMultiTaskTransformer).Assembly.FullName!);

    /// <summary>The format <c>Save</c> writes; tests set <see cref="FormatVersion11"/> or <see cref="FormatVersion12"/>
    /// to write a model as earlier versions did (compatibility tests).</summary>
    internal uint SaveFormatVersion { get; set; } = FormatVersion;

    /// <summary>Saves into a model zip: the control state, the training options, the per-row control column names and, in the entry
    /// "MultiTaskModel.bin", the bytes of <see cref="IMultiTaskModel.Save"/>; both framed with their SHA-256 (format 1.3).</summary>
    /// <exception cref="InvalidOperationException">No reader is registered for the model's type, so the zip could not
    /// be loaded again (see <see cref="MultiTaskModelLoaders.Register{TModel}"/>).</exception>
    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        Type modelType = Model.GetType();
        if (!MultiTaskModelLoaders.IsRegistered(modelType))
            throw new InvalidOperationException(
                $"Cannot save: no reader is registered for the model type '{modelType.FullName}', so the zip could not be loaded. " +
                $"Call MultiTaskModelLoaders.Register<{modelType.Name}>(stream => ...) first.");
        ControlSnapshot c = _control;
        uint version = SaveFormatVersion;
        void WriteRecord(BinaryWriter w)
        {
            // Ints and doubles little-endian, strings length-prefixed UTF-8.
            w.Write(FeatureColumnName);
            w.Write(MultiTaskModelLoaders.KeyOf(modelType));
            w.Write((int)c.Budget.Unit);
            w.Write(c.Budget.Value);
            w.Write(c.Weights.Length);
            foreach (double x in c.Weights) w.Write(x);
            w.Write(c.Configuration.ToString());
            w.Write(_batchSize);
            w.Write(_trainingOptions is not null);
            if (_trainingOptions is not null) w.Write(_trainingOptions.ToJson());
            if (version >= FormatVersion12)
            {
                // 1.2: the per-row control columns ("" = turned off).
                w.Write(BudgetColumnName ?? "");
                w.Write(TaskWeightsColumnName ?? "");
            }
        }
        MLNetInternals.Save(ctx, FormatOf(version),
            w =>
            {
                // Format 1.3: the version, then one checksummed frame holding the 1.2 record; 1.1 and 1.2 (for
                // compatibility tests): the record itself.
                w.Write(version);
                if (version < FormatVersion)
                {
                    WriteRecord(w);
                    return;
                }
                w.Flush();
                Checksummed.Write(w.BaseStream, payload =>
                {
                    using var r = new BinaryWriter(payload, System.Text.Encoding.UTF8, leaveOpen: true);
                    WriteRecord(r);
                });
            },
            new (string, Action<BinaryWriter>)[]
            {
                (ModelEntryName, w =>
                {
                    w.Flush();
                    if (version >= FormatVersion) Checksummed.Write(w.BaseStream, Model.Save);
                    else Model.Save(w.BaseStream);
                }),
            });
    }

    /// <summary>The loader ML.NET calls (registered by <c>AddMLNetSlim()</c>). Verifies the CRC-32 of every entry of the
    /// zip (once per archive), then the checksums of its own record and model entry.</summary>
    /// <exception cref="InvalidModelFileException">The zip or this component's entries are damaged, truncated, foreign,
    /// or of a newer format.</exception>
    /// <exception cref="InvalidOperationException">No reader is registered for the saved model type.</exception>
    internal static ControllableMultiTaskTransformer Create(IHostEnvironment env, object modelLoadContext)
    {
        var ctx = new MLNetInternals.LoadContext(modelLoadContext);
        string? file = ctx.FileName;
        string? dir = ctx.Directory;
        string record = string.IsNullOrEmpty(dir) ? "Model.key" : dir.Replace('\\', '/') + "/Model.key";
        string modelEntry = string.IsNullOrEmpty(dir) ? ModelEntryName : dir.Replace('\\', '/') + "/" + ModelEntryName;
        try
        {
            VerifyOnce(ctx.Archive);
            return CreateCore(ctx, record, modelEntry);
        }
        catch (InvalidModelFileException e)
        {
            throw file is null ? e : e.WithFile(file);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or FormatException or InvalidDataException or ArgumentException
                                      or System.Text.Json.JsonException or OverflowException or NotSupportedException)
        {
            throw new InvalidModelFileException(file, record, $"the record cannot be read ({e.GetType().Name}); the file is damaged or was not written by MLNetSlim.", e);
        }
    }

    private static readonly ConditionalWeakTable<System.IO.Compression.ZipArchive, object> Verified = new();

    private static void VerifyOnce(System.IO.Compression.ZipArchive zip)
    {
        if (Verified.TryGetValue(zip, out _)) return;
        ZipIntegrity.Verify(zip);
        Verified.AddOrUpdate(zip, new object());
    }

    private static ControllableMultiTaskTransformer CreateCore(MLNetInternals.LoadContext ctx, string record, string modelEntry)
    {
        try
        {
            ctx.CheckAtModel(Format);
        }
        catch (FormatException e)
        {
            string saved = ctx.HeaderVersions is (ulong written, ulong readable) ? $"written as 0x{written:X8}, readable from 0x{readable:X8}" : "unknown";
            throw new InvalidModelFileException(null, record,
                $"the transformer record's format ({saved}) is not one this library reads (0x{FormatVersion11:X8} to 0x{FormatVersion:X8}): {e.Message}", e);
        }
        BinaryReader r = ctx.Reader;
        uint version = r.ReadUInt32();
        if (version < FormatVersion11 || version > FormatVersion)
            throw new InvalidModelFileException(null, record,
                $"transformer format 0x{version:X8} is not readable by this version (it reads 0x{FormatVersion11:X8} to 0x{FormatVersion:X8}).");
        bool framed = version >= FormatVersion;
        BinaryReader body = framed
            ? new BinaryReader(new MemoryStream(Checksummed.Read(r.BaseStream, "transformer record")), System.Text.Encoding.UTF8)
            : r;
        string feature = body.ReadString();
        string modelKey = body.ReadString();
        var unit = (BudgetUnit)body.ReadInt32();
        double budgetValue = body.ReadDouble();
        int weightCount = body.ReadInt32();
        if (weightCount < 0 || weightCount > 100_000)
            throw new InvalidModelFileException(null, record, $"the stored number of task weights ({weightCount}) is impossible.");
        var weights = new double[weightCount];
        for (int i = 0; i < weights.Length; i++) weights[i] = body.ReadDouble();
        _ = body.ReadString(); // configuration at save time: recomputed below (a latency budget may select differently on another machine)
        int batchSize = body.ReadInt32();
        ControllableMultiTaskEstimator.Options? options = body.ReadBoolean() ? ControllableMultiTaskEstimator.Options.FromJson(body.ReadString()) : null;
        // Format 1.1 models predate per-row control: they get the default column names.
        string budgetColumn = DefaultBudgetColumnName, weightsColumn = DefaultTaskWeightsColumnName;
        if (version >= FormatVersion12)
        {
            budgetColumn = body.ReadString();
            weightsColumn = body.ReadString();
        }
        if (framed && body.BaseStream.Position != body.BaseStream.Length)
            throw new InvalidModelFileException(null, record, $"{body.BaseStream.Length - body.BaseStream.Position} unexpected bytes at the end of the record.");

        IMultiTaskModel? model = null;
        bool found = ctx.TryLoadBinaryStream(ModelEntryName, br =>
        {
            Stream bytes = br.BaseStream;
            if (framed)
            {
                bytes = new MemoryStream(Checksummed.Read(br.BaseStream, "model entry"));
            }
            else
            {
                var copy = new MemoryStream();
                br.BaseStream.CopyTo(copy);
                copy.Position = 0;
                bytes = copy;
            }
            try
            {
                model = MultiTaskModelLoaders.Load(modelKey, bytes);
            }
            catch (InvalidModelFileException e)
            {
                throw e.WithEntry(modelEntry);
            }
            catch (Exception e) when (e is EndOfStreamException or IOException or FormatException or InvalidDataException or ArgumentException or OverflowException)
            {
                throw new InvalidModelFileException(null, modelEntry, $"the model reader for '{modelKey}' failed ({e.GetType().Name}: {e.Message}).", e);
            }
        });
        if (!found || model is null)
            throw new InvalidModelFileException(null, modelEntry, $"the zip has no '{ModelEntryName}' entry next to the MLNetSlim transformer.");
        if (weights.Length != model.Tasks.Count)
            throw new InvalidModelFileException(null, record, $"the saved task weights ({weights.Length}) do not match the model's {model.Tasks.Count} tasks.");
        Budget budget;
        try
        {
            budget = unit switch
            {
                BudgetUnit.FractionOfFullMacs => Budget.FractionOfFull(budgetValue),
                BudgetUnit.Macs => Budget.Macs(budgetValue),
                BudgetUnit.Milliseconds => Budget.Milliseconds(budgetValue),
                _ => throw new InvalidModelFileException(null, record, $"unknown budget unit {(int)unit}."),
            };
        }
        catch (ArgumentException e)
        {
            throw new InvalidModelFileException(null, record, $"the saved budget is invalid: {e.Message}", e);
        }
        var named = model.Tasks.Select((t, i) => (t.Name, weights[i])).ToDictionary(p => p.Name, p => p.Item2, StringComparer.Ordinal);
        try
        {
            return new ControllableMultiTaskTransformer(model, feature, budget, named, options)
            {
                BatchSize = batchSize,
                BudgetColumnName = budgetColumn.Length == 0 ? null : budgetColumn,
                TaskWeightsColumnName = weightsColumn.Length == 0 ? null : weightsColumn,
            };
        }
        catch (ArgumentException e)
        {
            throw new InvalidModelFileException(null, record, $"the saved control state does not fit the model: {e.Message}", e);
        }
    }

    internal static MethodInfo CreateMethod =>
        typeof(ControllableMultiTaskTransformer).GetMethod(nameof(Create), BindingFlags.NonPublic | BindingFlags.Static)!;
}
