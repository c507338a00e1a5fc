using System.Globalization;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetSlim.Control;
using MLNetSlim.Architecture;
using MLNetSlim.Model;
using MLNetSlim.Training;

namespace MLNetSlim.MLNet;

/// <summary>
/// Runs a trained controllable multi-task network on an image column and adds, per task T with K classes,
/// <c>Score.T</c> (Vector&lt;Single, K&gt; of class probabilities, SlotNames = class names) and <c>PredictedLabel.T</c>
/// (Key&lt;UInt32, K&gt;, the arg-max class, KeyValues = class names, so <c>MapKeyToValue</c> works after it). Input
/// columns pass through at the same indices.
/// </summary>
/// <remarks>
/// <para><b>Runtime control.</b> Set <see cref="Budget"/> and <see cref="TaskWeights"/> at any time; the setter runs the
/// network's search (<see cref="IMultiTaskModel.SelectConfiguration"/>) at once, so <see cref="Configuration"/> and
/// <see cref="ConfigurationMacs"/> are current when it returns, and a budget the network cannot meet throws from the
/// setter, leaving the previous control unchanged. A change takes effect for every row cursor created after it (the
/// next enumeration of a <see cref="Transform"/> result; a cursor already open keeps the configuration it started
/// with, so one pass is consistent) and for the next <c>PredictionEngine.Predict</c> call of existing and new
/// prediction engines (the single-row path reads the configuration on each row).</para>
/// <para><b>Threads.</b> <see cref="IMultiTaskModel.Predict"/> is not thread-safe, so every forward pass of one
/// transformer is serialised by a lock: concurrent cursors and prediction engines are safe but do not run the network
/// in parallel. ML.NET's <c>PredictionEngine</c> itself is not thread-safe: use one engine per thread (for example a
/// <c>ThreadLocal&lt;PredictionEngine&lt;,&gt;&gt;</c>; the Microsoft.Extensions.ML pool is not available here). For
/// parallel throughput load one transformer per worker thread (<c>mlContext.Model.Load</c> once per thread).</para>
/// <para><b>Batches.</b> <see cref="Transform"/> reads <see cref="BatchSize"/> rows ahead and runs one forward pass per
/// batch; the prediction engine path runs one forward pass per row.</para>
/// <para><b>Disposal.</b> The transformer does not own or dispose the model (ML.NET disposes transformers with
/// their prediction engines); dispose the model yourself if it holds native memory and you created it.</para>
/// </remarks>
public sealed class ControllableMultiTaskTransformer : ITransformer
{
    /// <summary>Prefix of the per-task score columns: <c>Score.&lt;Task&gt;</c>.</summary>
    public const string ScoreColumnPrefix = "Score.";

    /// <summary>Prefix of the per-task predicted label columns: <c>PredictedLabel.&lt;Task&gt;</c>.</summary>
    public const string PredictedLabelColumnPrefix = "PredictedLabel.";

    private readonly object _controlLock = new();
    private readonly ControllableMultiTaskEstimator.Options? _trainingOptions;
    private volatile ControlState _control;
    private int _batchSize = 64;

    /// <summary>Creates a transformer over an existing model.</summary>
    /// <param name="model">The network. Its tasks must all be <see cref="TaskKind.Classification"/>.</param>
    /// <param name="featureColumnName">The image column: Vector&lt;Single, C*H*W&gt;, (C, H, W) order.</param>
    /// <param name="budget">Initial budget; <see cref="Control.Budget.Full"/> when null.</param>
    /// <param name="taskWeights">Initial task weights by task name; every task 1.0 when null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    /// <exception cref="NotSupportedException">A task is not a classification task.</exception>
    /// <exception cref="ArgumentException">Bad budget or weights (see <see cref="Budget"/>, <see cref="TaskWeights"/>).</exception>
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
        foreach (TaskDefinition t in model.Tasks)
            if (t.Kind != TaskKind.Classification)
                throw new NotSupportedException($"Task '{t.Name}' is {t.Kind}; the ML.NET transformer supports classification tasks only.");
        Model = model;
        FeatureColumnName = featureColumnName;
        _trainingOptions = trainingOptions?.Clone();
        double[] weights = ResolveWeights(taskWeights);
        _control = Select(budget ?? Budget.Full, weights);
    }

    /// <summary>The network.</summary>
    public IMultiTaskModel Model { get; }

    /// <summary>The image column read by the network.</summary>
    public string FeatureColumnName { get; }

    /// <summary>The tasks, in decoder order.</summary>
    public IReadOnlyList<TaskDefinition> Tasks => Model.Tasks;

    /// <summary>The options the model was trained with (a copy), or null when made from an existing model.</summary>
    public ControllableMultiTaskEstimator.Options? TrainingOptions => _trainingOptions?.Clone();

    /// <summary>The compute budget. Default <see cref="Control.Budget.Full"/>. See the remarks for when a change takes effect.</summary>
    /// <exception cref="ArgumentException">On set: the network cannot meet the budget (below its smallest configuration).</exception>
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
    /// Task preferences by task name (non-negative, need not sum to 1; tasks not listed get 0). Default: every task
    /// 1.0. Getting returns a copy listing every task. See the remarks for when a change takes effect.
    /// </summary>
    /// <exception cref="ArgumentException">On set: an unknown task name (the message names it and the known tasks), a
    /// negative or non-finite weight, or all weights 0.</exception>
    /// <exception cref="ArgumentNullException">On set: null.</exception>
    /// <example>
    /// <code>
    /// slim.TaskWeights = new Dictionary&lt;string, double&gt; { ["digit"] = 0.8, ["fashion"] = 0.2 }; // unlisted tasks weigh 0
    /// </code>
    /// </example>
    public IReadOnlyDictionary<string, double> TaskWeights
    {
        get
        {
            ControlState c = _control;
            return Tasks.Select((t, i) => (t.Name, c.Weights[i])).ToDictionary(p => p.Name, p => p.Item2, StringComparer.Ordinal);
        }
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            double[] w = ResolveWeights(value);
            lock (_controlLock) _control = Select(_control.Budget, w);
        }
    }

    /// <summary>The width configuration chosen for the current <see cref="Budget"/> and <see cref="TaskWeights"/>.</summary>
    /// <example>
    /// <code>
    /// slim.Budget = Budget.FractionOfFull(0.3);
    /// Console.WriteLine(slim.Configuration); // e.g. "enc=0.5 dec=0.75,0.25"
    /// </code>
    /// </example>
    public WidthConfiguration Configuration => _control.Configuration;

    /// <summary>Exact cost of <see cref="Configuration"/>, in multiply-accumulates (MACs) per image.</summary>
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

    /// <summary>Always true: the transformer maps each row independently.</summary>
    public bool IsRowToRowMapper => true;

    internal ControlState Control => _control;
    internal object PredictLock { get; } = new();

    /// <summary>Name of task <paramref name="task"/>'s score column.</summary>
    public static string ScoreColumnName(string task) => ScoreColumnPrefix + task;

    /// <summary>Name of task <paramref name="task"/>'s predicted label column.</summary>
    public static string PredictedLabelColumnName(string task) => PredictedLabelColumnPrefix + task;

    /// <summary>The input schema plus, per task, <c>Score.T</c> and <c>PredictedLabel.T</c>.</summary>
    /// <param name="inputSchema">Must have <see cref="FeatureColumnName"/> as Vector&lt;Single, C*H*W&gt;.</param>
    /// <exception cref="ArgumentOutOfRangeException">The features column is missing or of the wrong type or size; the
    /// message names the column, the expected and the actual type.</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        SchemaChecks.FeatureColumn(inputSchema, FeatureColumnName, Model.Channels, Model.Height, Model.Width, nameof(inputSchema));
        var b = new DataViewSchema.Builder();
        b.AddColumns(inputSchema);
        AddOutputColumns(b, Tasks);
        return b.ToSchema();
    }

    internal static void AddOutputColumns(DataViewSchema.Builder b, IReadOnlyList<TaskDefinition> tasks)
    {
        foreach (TaskDefinition t in tasks)
        {
            int k = t.NumClasses;
            var names = new VBuffer<ReadOnlyMemory<char>>(k, t.ClassNames.Select(n => n.AsMemory()).ToArray());
            var scoreAnn = new DataViewSchema.Annotations.Builder();
            scoreAnn.Add("SlotNames", new VectorDataViewType(TextDataViewType.Instance, k), (ref VBuffer<ReadOnlyMemory<char>> v) => names.CopyTo(ref v));
            b.AddColumn(ScoreColumnName(t.Name), new VectorDataViewType(NumberDataViewType.Single, k), scoreAnn.ToAnnotations());
            var labelAnn = new DataViewSchema.Annotations.Builder();
            labelAnn.Add("KeyValues", new VectorDataViewType(TextDataViewType.Instance, k), (ref VBuffer<ReadOnlyMemory<char>> v) => names.CopyTo(ref v));
            b.AddColumn(PredictedLabelColumnName(t.Name), new KeyDataViewType(typeof(uint), k), labelAnn.ToAnnotations());
        }
    }

    /// <summary>A row mapper for <paramref name="inputSchema"/> (the single-row path used by prediction engines).</summary>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="GetOutputSchema"/>.</exception>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new ControllableMultiTaskMapper(this, inputSchema);

    /// <summary>Lazily applies the network to <paramref name="input"/>; the forward passes run, in batches, as the
    /// result is enumerated.</summary>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="GetOutputSchema"/>.</exception>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new ControllableMultiTaskDataView(this, input);
    }

    // ---- control ----------------------------------------------------------------------------------------------------

    internal sealed record ControlState(Budget Budget, double[] Weights, WidthConfiguration Configuration, long Macs);

    private ControlState Select(Budget budget, double[] weights)
    {
        WidthConfiguration c = Model.SelectConfiguration(budget, weights);
        return new ControlState(budget, weights, c, Model.Costs.Macs(c));
    }

    private double[] ResolveWeights(IReadOnlyDictionary<string, double>? taskWeights)
    {
        if (taskWeights is null) return Enumerable.Repeat(1.0, Tasks.Count).ToArray();
        var w = new double[Tasks.Count];
        foreach ((string name, double value) in taskWeights)
        {
            int i = -1;
            for (int t = 0; t < Tasks.Count; t++)
                if (Tasks[t].Name == name) { i = t; break; }
            if (i < 0)
                throw new ArgumentException($"Unknown task '{name}' in TaskWeights; the tasks are [{string.Join(", ", Tasks.Select(t => t.Name))}].", nameof(TaskWeights));
            if (!(value >= 0) || double.IsInfinity(value))
                throw new ArgumentException($"Weight of task '{name}' must be a finite number >= 0, got {value.ToString(CultureInfo.InvariantCulture)}.", nameof(TaskWeights));
            w[i] = value;
        }
        if (w.All(x => x == 0))
            throw new ArgumentException($"At least one task weight must be positive; got {{{string.Join(", ", taskWeights.Select(p => $"{p.Key}: {p.Value}"))}}}.", nameof(TaskWeights));
        return w;
    }

    // ---- save / load --------------------------------------------------------------------------------------------------

    private const string ModelEntryName = "MultiTaskModel.bin";
    private const uint FormatVersion = 0x00010001;

    /// <summary>Loader signature, looked up in an MLContext's component catalog after <c>AddMLNetSlim()</c>.</summary>
    internal const string LoaderSignature = "MLNetSlimControllableMT";

    internal static ModelFormatInfo Format => new(
        ModelSignature: "MLNSCMTT",
        VersionWritten: FormatVersion,
        VersionReadable: FormatVersion,
        VersionWeCanReadBack: FormatVersion,
        LoaderSignature: LoaderSignature,
        LoaderAssemblyName: typeof(ControllableMultiTaskTransformer).Assembly.FullName!);

    /// <summary>Saves into a model zip: the control state, the training options and, in the entry
    /// "MultiTaskModel.bin", the bytes of <see cref="IMultiTaskModel.Save"/>.</summary>
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
        ControlState c = _control;
        MLNetInternals.Save(ctx, Format,
            w =>
            {
                // Format 1.1 (major.minor in FormatVersion): ints and doubles little-endian, strings length-prefixed UTF-8.
                w.Write(FormatVersion);
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
            },
            new (string, Action<BinaryWriter>)[]
            {
                (ModelEntryName, w =>
                {
                    w.Flush();
                    Model.Save(w.BaseStream);
                }),
            });
    }

    /// <summary>The loader ML.NET calls (registered by <c>AddMLNetSlim()</c>).</summary>
    internal static ControllableMultiTaskTransformer Create(IHostEnvironment env, object modelLoadContext)
    {
        var ctx = new MLNetInternals.LoadContext(modelLoadContext);
        ctx.CheckAtModel(Format);
        BinaryReader r = ctx.Reader;
        uint version = r.ReadUInt32();
        if (version != FormatVersion)
            throw new FormatException($"MLNetSlim transformer format 0x{version:X8} is not readable by this version (0x{FormatVersion:X8}).");
        string feature = r.ReadString();
        string modelKey = r.ReadString();
        var unit = (BudgetUnit)r.ReadInt32();
        double budgetValue = r.ReadDouble();
        var weights = new double[r.ReadInt32()];
        for (int i = 0; i < weights.Length; i++) weights[i] = r.ReadDouble();
        _ = r.ReadString(); // configuration at save time: recomputed below (a latency budget may select differently on another machine)
        int batchSize = r.ReadInt32();
        ControllableMultiTaskEstimator.Options? options = r.ReadBoolean() ? ControllableMultiTaskEstimator.Options.FromJson(r.ReadString()) : null;

        IMultiTaskModel? model = null;
        bool found = ctx.TryLoadBinaryStream(ModelEntryName, br =>
        {
            var copy = new MemoryStream();
            br.BaseStream.CopyTo(copy);
            copy.Position = 0;
            model = MultiTaskModelLoaders.Load(modelKey, copy);
        });
        if (!found || model is null)
            throw new FormatException($"The model zip has no '{ModelEntryName}' entry next to the MLNetSlim transformer.");
        if (weights.Length != model.Tasks.Count)
            throw new FormatException($"Saved task weights ({weights.Length}) do not match the model's {model.Tasks.Count} tasks.");
        Budget budget = unit switch
        {
            BudgetUnit.FractionOfFullMacs => Budget.FractionOfFull(budgetValue),
            BudgetUnit.Macs => Budget.Macs(budgetValue),
            BudgetUnit.Milliseconds => Budget.Milliseconds(budgetValue),
            _ => throw new FormatException($"Unknown budget unit {(int)unit}."),
        };
        var named = model.Tasks.Select((t, i) => (t.Name, weights[i])).ToDictionary(p => p.Name, p => p.Item2, StringComparer.Ordinal);
        return new ControllableMultiTaskTransformer(model, feature, budget, named, options) { BatchSize = batchSize };
    }

    internal static MethodInfo CreateMethod =>
        typeof(ControllableMultiTaskTransformer).GetMethod(nameof(Create), BindingFlags.NonPublic | BindingFlags.Static)!;
}
