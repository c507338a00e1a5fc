using System.Diagnostics;
using System.Text;
using System.Text.Json;
using MLNetSlim.Control;
using MLNetSlim.Network;
using MLNetSlim.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Model;

/// <summary>
/// A trained controllable multi-task model (ECMT, ICCV 2023): the slimmable network, its exact cost table, the
/// calibration table measured on held-out data, and the budget/preference search that turns a compute budget and task
/// preferences into a width configuration at run time, without retraining. One file holds it all
/// (see docs/model-format.md).
/// <para><b>Threads.</b> <see cref="Predict(ReadOnlySpan{float}, int, ResolvedConfiguration)"/>,
/// <see cref="Select"/> and <see cref="SelectConfiguration"/> are safe for concurrent calls on one instance: the
/// network is in eval mode, so a forward pass only reads weights and batch-norm statistics, and TorchSharp keeps
/// <c>no_grad</c> and dispose scopes per thread. Torch's intra-op threads are per calling thread once that thread has
/// run torch (see docs/mlnet-integration.md). <see cref="MeasureLatency"/> is serialised internally. Saving and
/// disposing must not overlap with predictions.</para>
/// </summary>
public sealed class ControllableMultiTaskModel : IMultiTaskModel, IDisposable
{
    /// <summary>Version of the file format written by <see cref="Save(Stream)"/>: 3 (version 2's layout; the network
    /// options may name a separate decoder width set, <see cref="NetworkOptions.DecoderWidths"/>, which a version-2
    /// reader would ignore and then fail on the weights).</summary>
    public const int FormatVersion = 3;

    private static readonly byte[] Magic = "MLNSLIM1"u8.ToArray();
    private readonly Device _device;
    private readonly object _latencyGate = new();
    private volatile ConfigurationSearch _search;
    private volatile LatencyTable? _latency;

    internal ControllableMultiTaskModel(MultiTaskNetwork network, CalibrationTable calibration, Guid id, string device)
    {
        Network = network;
        Calibration = calibration;
        Id = id;
        Device = TorchDevice.Parse(device);
        _device = TorchDevice.Resolve(Device);
        Network.to(_device);
        Network.eval();
        _search = new ConfigurationSearch(network.CostTable, calibration);
    }

    /// <summary>A model from a network and its calibration table (tests and benchmarks: a tiny untrained network with
    /// a synthetic table). Puts the network in eval mode on <paramref name="device"/>.</summary>
    internal static ControllableMultiTaskModel FromParts(MultiTaskNetwork network, CalibrationTable calibration, string device = "cpu") =>
        new(network, calibration, Guid.NewGuid(), device);

    /// <summary>The network.</summary>
    public MultiTaskNetwork Network { get; }

    /// <summary>Per task, encoder option and decoder width: accuracy on the calibration data.</summary>
    public CalibrationTable Calibration { get; }

    /// <summary>The search (controller) in use; after <see cref="MeasureLatency"/> it also takes millisecond budgets.</summary>
    public ConfigurationSearch Search => _search;

    /// <summary>Identity of the trained weights (kept by Save/Load); keys the per-process latency cache.</summary>
    public Guid Id { get; }

    /// <summary>Torch device the model runs on.</summary>
    public string Device { get; }

    /// <inheritdoc />
    public IReadOnlyList<TaskDefinition> Tasks => Network.Tasks;

    /// <inheritdoc />
    public int Channels => Network.Options.Channels;

    /// <inheritdoc />
    public int Height => Network.Options.Height;

    /// <inheritdoc />
    public int Width => Network.Options.Width;

    /// <inheritdoc />
    public CostTable Costs => Network.CostTable;

    /// <summary>Wraps an already trained network and its calibration table (tests, tools); the model takes ownership
    /// of the network.</summary>
    internal static ControllableMultiTaskModel FromNetwork(MultiTaskNetwork network, CalibrationTable calibration, string device = "cpu") =>
        new(network, calibration, Guid.NewGuid(), device);
    /// <inheritdoc />
    /// <exception cref="BudgetInfeasibleException">The budget is below the smallest configuration's cost.</exception>
    public ResolvedConfiguration SelectConfiguration(Budget budget, IReadOnlyList<double> taskPreferences) =>
        Select(budget, taskPreferences).Selected;

    /// <summary>The search's full answer for a budget and task preferences (configuration, MACs, predicted performance).</summary>
    /// <exception cref="BudgetInfeasibleException">The budget is below the smallest configuration's cost.</exception>
    /// <exception cref="ArgumentException">Wrong number of preferences.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative, NaN or infinite preference, or all zero.</exception>
    public SearchResult Select(Budget budget, IReadOnlyList<double> taskPreferences)
    {
        if (budget.Unit == BudgetUnit.Milliseconds && _latency is null) MeasureLatency();
        return _search.Search(budget, taskPreferences);
    }

    /// <summary>
    /// Measures (once per process and model, then cached) the latency table used for millisecond budgets: encoder
    /// latency per encoder option and decoder latency per task, encoder option and width, at batch size 1 on this
    /// machine. Takes about (E + T x E x W) x repeats forward passes, typically a few seconds.
    /// </summary>
    public LatencyTable MeasureLatency(int repeats = 20)
    {
        lock (_latencyGate)
        {
            LatencyTable latency = LatencyTable.GetOrMeasure($"{Id}/{Device}/{get_num_threads()}", () => MeasureLatencyTable(repeats));
            _search = new ConfigurationSearch(Network.CostTable, Calibration, latency);
            _latency = latency;
            return latency;
        }
    }

    private LatencyTable MeasureLatencyTable(int repeats)
    {
        using var noGrad = no_grad();
        using Tensor x = zeros(1, Channels, Height, Width, device: _device);
        CostTable costs = Network.CostTable;
        double Time(Action run)
        {
            run(); // warm-up
            var samples = new double[repeats];
            for (int i = 0; i < repeats; i++)
            {
                long start = Stopwatch.GetTimestamp();
                run();
                samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
            Array.Sort(samples);
            return samples[repeats / 2]; // median
        }
        double Encoder(int e) => Time(() =>
        {
            using var scope = NewDisposeScope();
            Network.ForwardEncoderStages(x, e);
        });
        var encoderOutputs = new Dictionary<int, Tensor[]>();
        double Decoder(int t, int e, int d)
        {
            if (!encoderOutputs.TryGetValue(e, out Tensor[]? features))
            {
                features = Network.ForwardEncoderStages(x, e); // per-pixel decoders read earlier stages as skips
                encoderOutputs[e] = features;
            }
            return Time(() =>
            {
                using var scope = NewDisposeScope();
                Network.ForwardDecoder(t, features, e, d, x);
            });
        }
        double Whole(WidthConfiguration c) => Time(() =>
        {
            using var scope = NewDisposeScope();
            Network.forward(x, c);
        });
        try
        {
            return LatencyTable.Measure(costs, Encoder, Decoder, Whole, 1);
        }
        finally
        {
            foreach (Tensor t in encoderOutputs.Values.SelectMany(f => f)) t.Dispose();
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">Wrong number of floats, or a configuration that does not fit.</exception>
    public float[][] Predict(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        int size = Channels * Height * Width;
        if (count < 1 || images.Length != count * size)
            throw new ArgumentException($"Expected {count} images of (C, H, W) = ({Channels}, {Height}, {Width}) = {count * size} floats; got {images.Length}.", nameof(images));
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor x = tensor(images.ToArray(), new long[] { count, Channels, Height, Width });
        if (_device.type != DeviceType.CPU) x = x.to(_device);
        using MultiTaskOutput output = Network.forward(x, configuration);
        var result = new float[Tasks.Count][];
        for (int t = 0; t < Tasks.Count; t++)
        {
            Tensor o = output.TaskOutputs[t];
            Tensor prediction = Tasks[t].Kind switch
            {
                TaskKind.Classification or TaskKind.Segmentation => nn.functional.softmax(o, 1),
                TaskKind.Depth => o,
                TaskKind.Normals => nn.functional.normalize(o, p: 2, dim: 1),
                _ => o.sigmoid(),
            };
            result[t] = prediction.cpu().data<float>().ToArray();
        }
        return result;
    }

    /// <summary>As <see cref="Predict(ReadOnlySpan{float}, int, ResolvedConfiguration)"/> for a configuration given as
    /// multipliers; resolves it once per call (use <see cref="CostTable.Resolve"/> once to run it many times).</summary>
    /// <exception cref="ArgumentException">Wrong number of floats, or a configuration that does not fit.</exception>
    public float[][] Predict(ReadOnlySpan<float> images, int count, WidthConfiguration configuration) =>
        Predict(images, count, Costs.Resolve(configuration));

    /// <summary>Writes the model (format version <see cref="FormatVersion"/>, see docs/model-format.md): magic, version,
    /// then the payload (id, network options, calibration table, weights) framed with its length and SHA-256.</summary>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(Magic);
        Span<byte> version = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(version, FormatVersion);
        stream.Write(version);
        Checksummed.Write(stream, payload =>
        {
            using var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true);
            WritePayload(writer);
        });
        stream.Flush();
    }

    /// <summary>Writes the model as format version 1 (no checksum), as earlier releases did; for compatibility tests.</summary>
    internal void SaveFormat1(Stream stream)
    {
        stream.Write(Magic);
        stream.Write(BitConverter.GetBytes(1));
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        WritePayload(writer);
    }

    private void WritePayload(BinaryWriter writer)
    {
        writer.Write(Id.ToByteArray());
        writer.Write(JsonSerializer.Serialize(Network.Options, JsonOptions));
        Calibration.Write(writer);
        Network.save(writer);
        writer.Flush();
    }

    /// <summary>Writes the model to <paramref name="path"/> crash-safely: a temporary file in the same folder, flushed
    /// to disk, then moved over the target in one atomic rename; an existing file is never left half-written, and
    /// temporary files of earlier interrupted saves are removed.</summary>
    public void Save(string path) => AtomicFile.Write(path, Save);

    /// <summary>Reads a model written by <see cref="Save(Stream)"/> (format version 3, or 2 or 1 from older releases).</summary>
    /// <param name="stream">The stream.</param>
    /// <param name="device">Torch device to run on: "cpu", "cuda" or "cuda:N".</param>
    /// <exception cref="InvalidModelFileException">Not a model stream, damaged (checksum), truncated, a newer format
    /// version (the message names both), or weights that do not match the saved architecture.</exception>
    public static ControllableMultiTaskModel Load(Stream stream, string device = "cpu")
    {
        ArgumentNullException.ThrowIfNull(stream);
        _ = TorchDevice.Parse(device); // a bad device is the caller's error, not the file's
        TorchRuntime.EnsureInitialized();
        var head = new byte[Magic.Length + 4];
        int got = 0;
        while (got < head.Length && stream.Read(head, got, head.Length - got) is int r && r > 0) got += r;
        if (got < Magic.Length || !head.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidModelFileException(null, null, $"not an MLNetSlim model: it does not start with 'MLNSLIM1'{(got < Magic.Length ? $" (only {got} bytes)" : "")}.");
        if (got < head.Length)
            throw new InvalidModelFileException(null, null, "the file is truncated inside its format version.");
        int version = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(Magic.Length));
        if (version == FormatVersion || version == 2) // 2 and 3 share the layout; 3 may carry NetworkOptions.DecoderWidths
        {
            byte[] payload = Checksummed.Read(stream, "model stream");
            using var ms = new MemoryStream(payload, writable: false);
            using var reader = new BinaryReader(ms, Encoding.UTF8);
            ControllableMultiTaskModel model = ReadPayload(reader, device, checkedPayload: true);
            if (ms.Position != ms.Length)
            {
                model.Dispose();
                throw new InvalidModelFileException(null, "model stream", $"{ms.Length - ms.Position} unexpected bytes after the weights.");
            }
            return model;
        }
        if (version == 1)
        {
            using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
            return ReadPayload(reader, device, checkedPayload: false);
        }
        throw new InvalidModelFileException(null, null, version > FormatVersion
            ? $"format version {version} is newer than this library reads (versions 1 to {FormatVersion}); update MLNetSlim."
            : $"format version {version} is not a valid version (this library reads versions 1 to {FormatVersion}); the file is damaged.");
    }

    /// <summary>Parses the payload: id, options, calibration, weights. Version 1 files have no checksum, so their
    /// parse errors are the only sign of damage.</summary>
    private static ControllableMultiTaskModel ReadPayload(BinaryReader reader, string device, bool checkedPayload)
    {
        string damaged = checkedPayload
            ? "its checksum is right, so it was written this way by another program or version"
            : "format version 1 files carry no checksum, so the file is probably damaged or truncated";
        Guid id;
        NetworkOptions options;
        CalibrationTable calibration;
        try
        {
            id = new Guid(reader.ReadBytes(16) is { Length: 16 } b ? b : throw new EndOfStreamException());
            options = JsonSerializer.Deserialize<NetworkOptions>(reader.ReadString(), JsonOptions)
                ?? throw new InvalidDataException("empty network options");
            calibration = CalibrationTable.Read(reader);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or JsonException or ArgumentException or FormatException or NotSupportedException or OverflowException)
        {
            throw new InvalidModelFileException(null, "network options / calibration table",
                $"the section cannot be parsed ({e.GetType().Name}); {damaged}.", e);
        }
        MultiTaskNetwork network;
        try
        {
            network = new MultiTaskNetwork(options);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException or OverflowException)
        {
            throw new InvalidModelFileException(null, "network options", $"the saved architecture cannot be built: {e.Message}", e);
        }
        try
        {
            network.load(reader);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            network.Dispose();
            throw new InvalidModelFileException(null, "weights",
                checkedPayload
                    ? $"the weights do not match the saved architecture ({e.GetType().Name}: {e.Message})."
                    : $"the weights cannot be read ({e.GetType().Name}); {damaged}.", e);
        }
        try
        {
            return new ControllableMultiTaskModel(network, calibration, id, device);
        }
        catch (ArgumentException e)
        {
            network.Dispose();
            throw new InvalidModelFileException(null, "calibration table", $"the calibration table does not fit the network: {e.Message}", e);
        }
    }

    /// <summary>Reads a model file.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidModelFileException">As <see cref="Load(Stream, string)"/>; the message names the file.</exception>
    public static ControllableMultiTaskModel Load(string path, string device = "cpu")
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        using FileStream f = File.OpenRead(path);
        try
        {
            return Load(f, device);
        }
        catch (InvalidModelFileException e)
        {
            throw e.WithFile(path);
        }
    }

    /// <inheritdoc />
    public void Dispose() => Network.Dispose();

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };
}
