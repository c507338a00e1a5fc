using System.Runtime.CompilerServices;
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
    /// <exception cref="ArgumentException">On set: an unknown task name (the message names it and the known tasks).</exception>
    /// <exception cref="ArgumentOutOfRangeException">On set: a negative, NaN or infinite weight, or all weights 0.</exception>
    /// <exception cref="ArgumentNullException">On set: null.</exception>
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
    public WidthConfiguration Configuration => _control.Configuration;

    /// <summary>Exact cost of <see cref="Configuration"/>, in multiply-accumulates (MACs) per image.</summary>
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
                throw new ArgumentOutOfRangeException(nameof(TaskWeights), value, $"Weight of task '{name}' must be a finite number >= 0, got {value.ToString(CultureInfo.InvariantCulture)}.");
            w[i] = value;
        }
        if (w.All(x => x == 0))
            throw new ArgumentOutOfRangeException(nameof(TaskWeights), $"At least one task weight must be positive; got {{{string.Join(", ", taskWeights.Select(p => $"{p.Key}: {p.Value}"))}}}.");
        return w;
    }

    // ---- save / load --------------------------------------------------------------------------------------------------

    private const string ModelEntryName = "MultiTaskModel.bin";

    /// <summary>Format of the transformer's record. 1.3 (written): the 1.2 record inside an integrity frame (length +
    /// SHA-256), and the model entry framed the same way. Read: 1.1 (older releases: no checksums, no per-row control
    /// column names), 1.2 (per-row control column names, no checksums) and 1.3.</summary>
    private const uint FormatVersion = 0x00010003;
    private const uint FormatVersion12 = 0x00010002;
    private const uint OldestReadableVersion = 0x00010001;

    /// <summary>Loader signature, looked up in an MLContext's component catalog after <c>AddMLNetSlim()</c>.</summary>
    internal const string LoaderSignature = "MLNetSlimControllableMT";

    internal static ModelFormatInfo Format => FormatOf(FormatVersion);

    private static ModelFormatInfo FormatOf(uint written) => new(
        ModelSignature: "MLNSCMTT",
        VersionWritten: written,
        VersionReadable: written,
        VersionWeCanReadBack: OldestReadableVersion,
        LoaderSignature: LoaderSignature,
        LoaderAssemblyName: typeof(ControllableMultiTaskTransformer).Assembly.FullName!);

    /// <summary>Saves into a model zip: the control state, the training options and, in the entry
    /// "MultiTaskModel.bin", the bytes of <see cref="IMultiTaskModel.Save"/>; both framed with their SHA-256.</summary>
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
        uint version = SaveFormatVersion;
        void WriteRecord(BinaryWriter r)
        {
            r.Write(FeatureColumnName);
            r.Write(MultiTaskModelLoaders.KeyOf(modelType));
            r.Write((int)c.Budget.Unit);
            r.Write(c.Budget.Value);
            r.Write(c.Weights.Length);
            foreach (double x in c.Weights) r.Write(x);
            r.Write(c.Configuration.ToString());
            r.Write(_batchSize);
            r.Write(_trainingOptions is not null);
            if (_trainingOptions is not null) r.Write(_trainingOptions.ToJson());
            if (version >= FormatVersion12)
            {
                // 1.2 fields: the per-row control column names ("" = none).
                r.Write("");
                r.Write("");
            }
        }
        MLNetInternals.Save(ctx, FormatOf(version),
            w =>
            {
                // Format 1.3: the version, then one checksummed frame holding the 1.2 record (ints and doubles
                // little-endian, strings length-prefixed UTF-8). 1.1 and 1.2 (SaveFormatVersion, for compatibility
                // tests): the record without the frame.
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

    /// <summary>The format <c>Save</c> writes; tests set an older one to write a model as earlier releases did.</summary>
    internal uint SaveFormatVersion { get; set; } = FormatVersion;

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
                $"the transformer record's format ({saved}) is not one this library reads (0x{OldestReadableVersion:X8} to 0x{FormatVersion:X8}): {e.Message}", e);
        }
        BinaryReader r = ctx.Reader;
        uint version = r.ReadUInt32();
        if (version < OldestReadableVersion || version > FormatVersion)
            throw new InvalidModelFileException(null, record,
                $"transformer format 0x{version:X8} is not readable by this version (it reads 0x{OldestReadableVersion:X8} to 0x{FormatVersion:X8}).");
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
        if (version >= FormatVersion12)
        {
            _ = body.ReadString(); // per-row budget column name
            _ = body.ReadString(); // per-row task weights column name
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
            return new ControllableMultiTaskTransformer(model, feature, budget, named, options) { BatchSize = batchSize };
        }
        catch (ArgumentException e)
        {
            throw new InvalidModelFileException(null, record, $"the saved control state does not fit the model: {e.Message}", e);
        }
    }

    internal static MethodInfo CreateMethod =>
        typeof(ControllableMultiTaskTransformer).GetMethod(nameof(Create), BindingFlags.NonPublic | BindingFlags.Static)!;
}
