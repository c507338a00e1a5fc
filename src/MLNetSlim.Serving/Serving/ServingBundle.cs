using System.Buffers.Binary;
using System.Text;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Model;

namespace MLNetSlim.Serving;

/// <summary>
/// What a serving process needs from a trained model, in one checksummed file and without TorchSharp: the tasks, the
/// input shape, the exact MAC cost table, the calibration table (the search's inputs), the transformer's column names
/// and control at export time, and one ONNX graph per exported width configuration (all configurations, or a chosen
/// subset such as a Pareto front). Written on the TorchSharp side by <c>mlContext.Model.ExportServingBundle</c>
/// (MLNetSlim.Onnx); read here by <see cref="Load(string)"/>. Format: docs/model-format.md ("Serving bundle").
/// </summary>
public sealed class ServingBundle
{
    /// <summary>Version of the bundle format written by this library (2: version 1 plus the optional latency table);
    /// it reads this version and every older one.</summary>
    public const int FormatVersion = 2;

    /// <summary>The first bundle format (no latency table); still read.</summary>
    internal const int FormatVersion1 = 1;

    /// <summary>Largest ONNX graph per configuration accepted on read, bytes (1 GiB).</summary>
    private const int MaxGraphBytes = 1 << 30;

    private static readonly byte[] Magic = "MLNSBNDL"u8.ToArray();
    private readonly byte[][] _graphs;

    /// <summary>Creates a bundle (the writer on the TorchSharp side; tests).</summary>
    /// <exception cref="ArgumentException">Tasks, cost table, calibration table, control or configurations disagree
    /// (the message names which).</exception>
    internal ServingBundle(IReadOnlyList<TaskDefinition> tasks, int channels, int height, int width, CostTable costs,
        CalibrationTable calibration, string featureColumnName, string? budgetColumnName, string? taskWeightsColumnName,
        Budget budget, IReadOnlyList<double> taskWeights, IReadOnlyList<(WidthConfiguration Configuration, byte[] Onnx)> configurations,
        BundleLatency? latency = null)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(costs);
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(configurations);
        ArgumentException.ThrowIfNullOrWhiteSpace(featureColumnName);
        if (channels < 1 || height < 1 || width < 1)
            throw new ArgumentException($"The input shape (C, H, W) = ({channels}, {height}, {width}) must be positive.");
        if (!tasks.Select(t => t.Name).SequenceEqual(costs.TaskNames))
            throw new ArgumentException($"The tasks [{string.Join(", ", tasks.Select(t => t.Name))}] differ from the cost table's [{string.Join(", ", costs.TaskNames)}].", nameof(costs));
        calibration.EnsureMatches(costs);
        if (taskWeights.Count != tasks.Count)
            throw new ArgumentException($"{taskWeights.Count} task weights for {tasks.Count} tasks.", nameof(taskWeights));
        if (configurations.Count == 0)
            throw new ArgumentException("A serving bundle needs at least one configuration.", nameof(configurations));
        Tasks = tasks.ToArray();
        Channels = channels;
        Height = height;
        Width = width;
        Costs = costs;
        Calibration = calibration;
        FeatureColumnName = featureColumnName;
        BudgetColumnName = string.IsNullOrEmpty(budgetColumnName) ? null : budgetColumnName;
        TaskWeightsColumnName = string.IsNullOrEmpty(taskWeightsColumnName) ? null : taskWeightsColumnName;
        Budget = budget;
        TaskWeights = taskWeights.ToArray();
        var resolved = new ResolvedConfiguration[configurations.Count];
        for (int i = 0; i < resolved.Length; i++)
        {
            resolved[i] = costs.Resolve(configurations[i].Configuration);
            if (configurations[i].Onnx is not { Length: > 0 })
                throw new ArgumentException($"Configuration {configurations[i].Configuration} has no ONNX graph.", nameof(configurations));
        }
        if (resolved.Distinct().Count() != resolved.Length)
            throw new ArgumentException("A configuration is listed twice.", nameof(configurations));
        Configurations = resolved;
        _graphs = configurations.Select(c => c.Onnx).ToArray();
        if (latency is not null && !ReferenceEquals(latency.Table.Costs, costs) && !SameShape(latency.Table.Costs, costs))
            throw new ArgumentException("The latency table belongs to another cost table.", nameof(latency));
        Latency = latency;
    }

    private static bool SameShape(CostTable a, CostTable b) =>
        a.TaskCount == b.TaskCount && a.EncoderOptionCount == b.EncoderOptionCount && a.DecoderWidths.Count == b.DecoderWidths.Count;

    /// <summary>The tasks, in decoder order.</summary>
    public IReadOnlyList<TaskDefinition> Tasks { get; }

    /// <summary>Input image channels C.</summary>
    public int Channels { get; }

    /// <summary>Input image height H, pixels.</summary>
    public int Height { get; }

    /// <summary>Input image width W, pixels.</summary>
    public int Width { get; }

    /// <summary>Exact MACs of every configuration of the network (also those not in the bundle).</summary>
    public CostTable Costs { get; }

    /// <summary>Per task, encoder option and decoder width: the metric on the calibration data.</summary>
    public CalibrationTable Calibration { get; }

    /// <summary>The image column: Vector&lt;Single, C*H*W&gt;, (C, H, W) order.</summary>
    public string FeatureColumnName { get; }

    /// <summary>The per-row budget column name of the exported transformer, or null when turned off.</summary>
    public string? BudgetColumnName { get; }

    /// <summary>The per-row task weights column name of the exported transformer, or null when turned off.</summary>
    public string? TaskWeightsColumnName { get; }

    /// <summary>The exported transformer's budget.</summary>
    public Budget Budget { get; }

    /// <summary>The exported transformer's task weights, in task order.</summary>
    public IReadOnlyList<double> TaskWeights { get; }

    /// <summary>The batch-1 ONNX Runtime latency table measured when the bundle was written, with the machine it was
    /// measured on, or null (bundles of format 1, or exported without it). Millisecond budgets use it.</summary>
    public BundleLatency? Latency { get; }

    /// <summary>The configurations this bundle can run (each with its ONNX graph), in the order written.</summary>
    public IReadOnlyList<ResolvedConfiguration> Configurations { get; }

    /// <summary>Whether every configuration of <see cref="Costs"/> is in the bundle (then the full ECMT search serves
    /// it; otherwise the choice is restricted to <see cref="Configurations"/>, see docs/serving.md).</summary>
    public bool HasEveryConfiguration => Configurations.Count == (long)Costs.EncoderOptionCount * (long)Math.Pow(Costs.DecoderWidths.Count, Costs.TaskCount);

    /// <summary>The ONNX graph of <see cref="Configurations"/>[<paramref name="index"/>] (input <c>Features</c>
    /// (N, C*H*W) float32, outputs <c>Score.T</c> and <c>PredictedLabel.T</c> per task).</summary>
    internal byte[] Graph(int index) => _graphs[index];

    /// <summary>Reads a bundle file.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidModelFileException">Not a serving bundle, damaged (checksum), truncated, or a newer
    /// format version (the message names the file, the section, and both versions).</exception>
    public static ServingBundle Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Serving bundle '{path}' does not exist.", path);
        using FileStream f = File.OpenRead(path);
        try
        {
            return Load(f);
        }
        catch (InvalidModelFileException e)
        {
            throw e.WithFile(path);
        }
    }

    /// <summary>Reads a bundle from a stream (see <see cref="Load(string)"/>).</summary>
    /// <exception cref="InvalidModelFileException">As <see cref="Load(string)"/>.</exception>
    public static ServingBundle Load(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var head = new byte[Magic.Length + 4];
        int got = 0;
        while (got < head.Length && stream.Read(head, got, head.Length - got) is int r && r > 0) got += r;
        if (got < Magic.Length || !head.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidModelFileException(null, null, $"not an MLNetSlim serving bundle: it does not start with 'MLNSBNDL'{(got < Magic.Length ? $" (only {got} bytes)" : "")}.");
        if (got < head.Length)
            throw new InvalidModelFileException(null, null, "the file is truncated inside its format version.");
        int version = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(Magic.Length));
        if (version < FormatVersion1 || version > FormatVersion)
            throw new InvalidModelFileException(null, null, version > FormatVersion
                ? $"serving bundle format version {version} is newer than this library reads (versions {FormatVersion1} to {FormatVersion}); update MLNetSlim.Serving."
                : $"serving bundle format version {version} is not a valid version (this library reads versions {FormatVersion1} to {FormatVersion}); the file is damaged.");
        byte[] payload = Checksummed.Read(stream, "serving bundle");
        using var ms = new MemoryStream(payload, writable: false);
        using var reader = new BinaryReader(ms, Encoding.UTF8);
        try
        {
            ServingBundle bundle = ReadPayload(reader, version);
            if (ms.Position != ms.Length)
                throw new InvalidModelFileException(null, "serving bundle", $"{ms.Length - ms.Position} unexpected bytes after the last configuration.");
            return bundle;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or FormatException or OverflowException)
        {
            throw new InvalidModelFileException(null, "serving bundle",
                $"the payload cannot be parsed ({e.GetType().Name}: {e.Message}); its checksum is right, so it was written this way by another program or version.", e);
        }
    }

    /// <summary>Writes the bundle: magic "MLNSBNDL", int32 format version, then the payload framed with its length and
    /// SHA-256 (docs/model-format.md).</summary>
    internal void Save(Stream stream) => Save(stream, FormatVersion);

    /// <summary>Writes format <paramref name="formatVersion"/> (tests write version 1 as earlier libraries did; it has
    /// no latency table).</summary>
    internal void Save(Stream stream, int formatVersion)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (formatVersion is < FormatVersion1 or > FormatVersion) throw new ArgumentOutOfRangeException(nameof(formatVersion));
        stream.Write(Magic);
        Span<byte> version = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(version, formatVersion);
        stream.Write(version);
        Checksummed.Write(stream, payload =>
        {
            using var w = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true);
            WritePayload(w, formatVersion);
        });
        stream.Flush();
    }

    /// <summary>Writes the bundle to <paramref name="path"/> crash-safely (temporary file in the same folder, flushed,
    /// then renamed over the target).</summary>
    internal void Save(string path)
    {
        string full = Path.GetFullPath(path);
        string temp = full + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        try
        {
            using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                Save(f);
                f.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private void WritePayload(BinaryWriter w, int formatVersion)
    {
        // Ints, longs and doubles little-endian; strings length-prefixed UTF-8 (BinaryWriter).
        w.Write(Tasks.Count);
        foreach (TaskDefinition t in Tasks)
        {
            w.Write(t.Name);
            w.Write((int)t.Kind);
            w.Write(t.NumClasses);
            w.Write(t.ClassNames.Count);
            foreach (string n in t.ClassNames) w.Write(n);
            w.Write(t.IgnoreValue.HasValue);
            w.Write(t.IgnoreValue ?? 0);
        }
        w.Write(Channels);
        w.Write(Height);
        w.Write(Width);
        w.Write(FeatureColumnName);
        w.Write(BudgetColumnName ?? "");
        w.Write(TaskWeightsColumnName ?? "");
        w.Write((int)Budget.Unit);
        w.Write(Budget.Value);
        foreach (double x in TaskWeights) w.Write(x);
        // Cost table.
        w.Write(Costs.DecoderWidths.Count);
        foreach (double m in Costs.DecoderWidths.Multipliers) w.Write(m);
        w.Write(Costs.EncoderOptionCount);
        for (int e = 0; e < Costs.EncoderOptionCount; e++)
        {
            IReadOnlyList<double> o = Costs.EncoderOption(e);
            w.Write(o.Count);
            foreach (double x in o) w.Write(x);
            w.Write(Costs.EncoderMacs(e));
        }
        for (int t = 0; t < Costs.TaskCount; t++)
            for (int e = 0; e < Costs.EncoderOptionCount; e++)
                for (int d = 0; d < Costs.DecoderWidths.Count; d++)
                    w.Write(Costs.DecoderMacs(t, e, d));
        Calibration.Write(w);
        w.Write(Configurations.Count);
        for (int i = 0; i < Configurations.Count; i++)
        {
            w.Write(Configurations[i].Widths.ToString());
            w.Write(_graphs[i].Length);
            w.Write(_graphs[i]);
        }
        if (formatVersion >= 2)
        {
            // Version 2: bool has-latency; then the machine, the UTC time, the overhead, E encoder and T x E x W
            // decoder latencies (ms, batch 1).
            w.Write(Latency is not null);
            if (Latency is not null)
            {
                LatencyTable l = Latency.Table;
                w.Write(Latency.Machine);
                w.Write(Latency.MeasuredUtc.ToBinary());
                w.Write(l.OverheadMs);
                for (int e = 0; e < Costs.EncoderOptionCount; e++) w.Write(l.EncoderMs(e));
                for (int t = 0; t < Costs.TaskCount; t++)
                    for (int e = 0; e < Costs.EncoderOptionCount; e++)
                        for (int d = 0; d < Costs.DecoderWidths.Count; d++)
                            w.Write(l.DecoderMs(t, e, d));
            }
        }
        w.Flush();
    }

    private static ServingBundle ReadPayload(BinaryReader r, int version)
    {
        int taskCount = Count(r.ReadInt32(), 10_000, "tasks");
        var tasks = new TaskDefinition[taskCount];
        for (int i = 0; i < taskCount; i++)
        {
            string name = r.ReadString();
            var kind = (TaskKind)r.ReadInt32();
            if (!Enum.IsDefined(kind)) throw new InvalidDataException($"task '{name}' has the unknown kind {(int)kind}");
            int classes = r.ReadInt32();
            int names = Count(r.ReadInt32(), 1_000_000, "class names");
            var classNames = new string[names];
            for (int c = 0; c < names; c++) classNames[c] = r.ReadString();
            bool hasIgnore = r.ReadBoolean();
            double ignore = r.ReadDouble();
            tasks[i] = new TaskDefinition(name, kind, classes, names == 0 ? null : classNames) { IgnoreValue = hasIgnore ? ignore : null };
        }
        int channels = r.ReadInt32(), height = r.ReadInt32(), width = r.ReadInt32();
        string feature = r.ReadString(), budgetColumn = r.ReadString(), weightsColumn = r.ReadString();
        var unit = (BudgetUnit)r.ReadInt32();
        double budgetValue = r.ReadDouble();
        Budget budget = unit switch
        {
            BudgetUnit.FractionOfFullMacs => Budget.FractionOfFull(budgetValue),
            BudgetUnit.Macs => Budget.Macs(budgetValue),
            BudgetUnit.Milliseconds => Budget.Milliseconds(budgetValue),
            _ => throw new InvalidDataException($"unknown budget unit {(int)unit}"),
        };
        var weights = new double[taskCount];
        for (int i = 0; i < taskCount; i++) weights[i] = r.ReadDouble();
        int widthCount = Count(r.ReadInt32(), 1_000, "widths");
        var multipliers = new double[widthCount];
        for (int i = 0; i < widthCount; i++) multipliers[i] = r.ReadDouble();
        int encoderOptions = Count(r.ReadInt32(), 1_000_000, "encoder options");
        var options = new double[encoderOptions][];
        var encoderMacs = new long[encoderOptions];
        for (int e = 0; e < encoderOptions; e++)
        {
            options[e] = new double[Count(r.ReadInt32(), 1_000, "encoder option widths")];
            for (int i = 0; i < options[e].Length; i++) options[e][i] = r.ReadDouble();
            encoderMacs[e] = r.ReadInt64();
        }
        var decoderMacs = new long[taskCount][][];
        for (int t = 0; t < taskCount; t++)
        {
            decoderMacs[t] = new long[encoderOptions][];
            for (int e = 0; e < encoderOptions; e++)
            {
                decoderMacs[t][e] = new long[widthCount];
                for (int d = 0; d < widthCount; d++) decoderMacs[t][e][d] = r.ReadInt64();
            }
        }
        var costs = new CostTable(new WidthSet(multipliers), tasks.Select(t => t.Name).ToArray(), options, encoderMacs, decoderMacs);
        CalibrationTable calibration = CalibrationTable.Read(r);
        int configurationCount = Count(r.ReadInt32(), 10_000_000, "configurations");
        var configurations = new (WidthConfiguration, byte[])[configurationCount];
        for (int i = 0; i < configurationCount; i++)
        {
            WidthConfiguration c = WidthConfiguration.Parse(r.ReadString());
            int bytes = r.ReadInt32();
            if (bytes < 1 || bytes > MaxGraphBytes) throw new InvalidDataException($"the ONNX graph of {c} has an impossible size ({bytes} bytes)");
            byte[] graph = r.ReadBytes(bytes);
            if (graph.Length != bytes) throw new EndOfStreamException($"the ONNX graph of {c} is cut short");
            configurations[i] = (c, graph);
        }
        BundleLatency? latency = null;
        if (version >= 2 && r.ReadBoolean())
        {
            string machine = r.ReadString();
            DateTime measured = DateTime.FromBinary(r.ReadInt64());
            double overhead = r.ReadDouble();
            var encoderMs = new double[encoderOptions];
            for (int e = 0; e < encoderOptions; e++) encoderMs[e] = r.ReadDouble();
            var decoderMs = new double[taskCount][][];
            for (int t = 0; t < taskCount; t++)
            {
                decoderMs[t] = new double[encoderOptions][];
                for (int e = 0; e < encoderOptions; e++)
                {
                    decoderMs[t][e] = new double[widthCount];
                    for (int d = 0; d < widthCount; d++) decoderMs[t][e][d] = r.ReadDouble();
                }
            }
            latency = new BundleLatency(new LatencyTable(costs, encoderMs, decoderMs, overhead), machine, measured);
        }
        return new ServingBundle(tasks, channels, height, width, costs, calibration, feature, budgetColumn, weightsColumn, budget, weights, configurations, latency);
    }

    private static int Count(int n, int max, string what) =>
        n >= 0 && n <= max ? n : throw new InvalidDataException($"the stored number of {what} ({n}) is impossible");
}

/// <summary>
/// A serving bundle's latency table: batch-1 ONNX Runtime latencies (ms) per encoder option and per decoder width
/// (separable; <see cref="LatencyTable.PredictMs(WidthConfiguration)"/> gives any configuration's), measured when the
/// bundle was exported, and the machine they were measured on. Millisecond budgets (<c>Budget.Milliseconds</c>) use it;
/// on a machine unlike <see cref="Machine"/> the figures are only indicative (docs/serving.md).
/// </summary>
/// <param name="Table">The latency table.</param>
/// <param name="Machine">The machine it was measured on ("2 cores, AMD EPYC ..., Linux ..., X64, ONNX Runtime intra-op threads 1").</param>
/// <param name="MeasuredUtc">When it was measured (UTC).</param>
public sealed record BundleLatency(LatencyTable Table, string Machine, DateTime MeasuredUtc);
