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
    /// <summary>Version of the file format written by <see cref="Save(Stream)"/>.</summary>
    public const int FormatVersion = 1;

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
        var encoderOutputs = new Dictionary<int, Tensor>();
        double Decoder(int t, int e, int d)
        {
            if (!encoderOutputs.TryGetValue(e, out Tensor? features))
            {
                Tensor[] stages = Network.ForwardEncoderStages(x, e);
                features = stages[^1];
                foreach (Tensor s in stages[..^1]) s.Dispose();
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
            foreach (Tensor t in encoderOutputs.Values) t.Dispose();
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
            Tensor probabilities = nn.functional.softmax(output.TaskOutputs[t], 1).cpu();
            result[t] = probabilities.data<float>().ToArray();
        }
        return result;
    }

    /// <summary>As <see cref="Predict(ReadOnlySpan{float}, int, ResolvedConfiguration)"/> for a configuration given as
    /// multipliers; resolves it once per call (use <see cref="CostTable.Resolve"/> once to run it many times).</summary>
    /// <exception cref="ArgumentException">Wrong number of floats, or a configuration that does not fit.</exception>
    public float[][] Predict(ReadOnlySpan<float> images, int count, WidthConfiguration configuration) =>
        Predict(images, count, Costs.Resolve(configuration));

    /// <summary>Writes the model (see docs/model-format.md).</summary>
    public void Save(Stream stream)
    {
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(FormatVersion);
        writer.Write(Id.ToByteArray());
        writer.Write(JsonSerializer.Serialize(Network.Options, JsonOptions));
        Calibration.Write(writer);
        Network.save(writer);
        writer.Flush();
    }

    /// <summary>Writes the model to <paramref name="path"/> through a temporary file, so an existing file is never
    /// left half-written.</summary>
    public void Save(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (FileStream f = File.Create(temp)) Save(f);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Reads a model written by <see cref="Save(Stream)"/>.</summary>
    /// <param name="stream">The stream.</param>
    /// <param name="device">Torch device to run on: "cpu", "cuda" or "cuda:N".</param>
    /// <exception cref="InvalidDataException">Not a model file, or a format version this library cannot read.</exception>
    public static ControllableMultiTaskModel Load(Stream stream, string device = "cpu")
    {
        TorchRuntime.EnsureInitialized();
        using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        byte[] magic = reader.ReadBytes(Magic.Length);
        if (!magic.AsSpan().SequenceEqual(Magic))
            throw new InvalidDataException("Not an MLNetSlim model: the stream does not start with 'MLNSLIM1'.");
        int version = reader.ReadInt32();
        if (version != FormatVersion)
            throw new InvalidDataException($"MLNetSlim model format version {version} is not supported; this library reads version {FormatVersion}.");
        var id = new Guid(reader.ReadBytes(16));
        NetworkOptions options = JsonSerializer.Deserialize<NetworkOptions>(reader.ReadString(), JsonOptions)
            ?? throw new InvalidDataException("MLNetSlim model: empty network options.");
        CalibrationTable calibration = CalibrationTable.Read(reader);
        var network = new MultiTaskNetwork(options);
        network.load(reader);
        return new ControllableMultiTaskModel(network, calibration, id, device);
    }

    /// <summary>Reads a model file.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not a model file.</exception>
    public static ControllableMultiTaskModel Load(string path, string device = "cpu")
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        using FileStream f = File.OpenRead(path);
        return Load(f, device);
    }

    /// <inheritdoc />
    public void Dispose() => Network.Dispose();

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };
}
