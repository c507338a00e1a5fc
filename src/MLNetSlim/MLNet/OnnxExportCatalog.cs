using Microsoft.ML;
using MLNetSlim.Control;
using MLNetSlim.Network;
using MLNetSlim.Architecture;
using MLNetSlim.Model;
using MLNetSlim.Onnx;
using MLNetSlim.Serving;

namespace MLNetSlim.MLNet;

/// <summary>
/// ONNX export on <c>mlContext.Model</c>: writes one width configuration of a trained
/// <see cref="ControllableMultiTaskTransformer"/> as an ONNX model that ML.NET's <c>ApplyOnnxModel</c> or ONNX Runtime
/// runs without TorchSharp. See <see cref="MultiTaskOnnxExporter"/> for the graph's inputs, outputs and metadata.
/// </summary>
public static class OnnxExportCatalog
{
    /// <summary>
    /// Exports width configuration <paramref name="configuration"/> (default: the transformer's current
    /// <see cref="ControllableMultiTaskTransformer.Configuration"/>) of the controllable multi-task transformer in
    /// <paramref name="model"/> to an ONNX model.
    /// </summary>
    /// <remarks>
    /// Only the network is exported: input <c>Features</c> (the transformer's feature column name), float32
    /// (N, C*H*W), the image in (C, H, W) order; outputs per task T with K classes <c>Score.T</c>, float32 (N, K)
    /// class probabilities, and <c>PredictedLabel.T</c>, int64 (N, 1), the 0-based arg-max class. Transforms before
    /// it in a chain (image loading, pixel extraction, key mapping) are not included: run them in ML.NET and append
    /// <c>mlContext.Transforms.ApplyOnnxModel(path)</c>, or feed the pixels to ONNX Runtime yourself. The export is
    /// a fixed configuration: control (budget, task weights, search) stays with the ML.NET transformer.
    /// </remarks>
    /// <param name="catalog"><c>mlContext.Model</c>.</param>
    /// <param name="model">A <see cref="ControllableMultiTaskTransformer"/>, or a chain holding exactly one.</param>
    /// <param name="stream">Receives the ONNX model.</param>
    /// <param name="configuration">The width configuration to export; null for the transformer's current one.</param>
    /// <exception cref="ArgumentException"><paramref name="model"/> holds no (or more than one) controllable
    /// multi-task transformer, or the configuration does not fit the network.</exception>
    /// <exception cref="NotSupportedException">The transformer's model is not a <see cref="ControllableMultiTaskModel"/>
    /// (for example a custom <see cref="IMultiTaskModel"/>), or a custom stage cannot be exported.</exception>
    public static void ExportToOnnx(this ModelOperationsCatalog catalog, ITransformer model, Stream stream, WidthConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(stream);
        ControllableMultiTaskTransformer slim = Find(model);
        ControllableMultiTaskModel network = slim.Model switch
        {
            ControllableMultiTaskModel m => m,
            OnnxRuntimeMultiTaskModel o => o.Inner,
            _ => throw new NotSupportedException($"ONNX export needs a ControllableMultiTaskModel; this transformer holds a {slim.Model.GetType().FullName}."),
        };
        MultiTaskOnnxExporter.Export(network, configuration ?? slim.Configuration, stream, slim.FeatureColumnName);
    }

    /// <summary>Exports to the file <paramref name="path"/> (written through a temporary file, so an existing file is
    /// never left half-written). See <see cref="ExportToOnnx(ModelOperationsCatalog, ITransformer, Stream, WidthConfiguration?)"/>.</summary>
    public static void ExportToOnnx(this ModelOperationsCatalog catalog, ITransformer model, string path, WidthConfiguration? configuration = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (FileStream f = File.Create(temp)) catalog.ExportToOnnx(model, f, configuration);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>
    /// Writes a serving bundle (docs/model-format.md, "Serving bundle"): the tasks, input shape, cost table,
    /// calibration table, the transformer's column names and control, and one ONNX graph per configuration — every
    /// configuration of the network by default, or <paramref name="configurations"/> (for example a Pareto front).
    /// <c>MLNetSlim.Serving</c> (<see cref="ServingMultiTaskModel"/>, <see cref="ServingMultiTaskTransformer"/>) serves
    /// it with the same control and output columns, through ONNX Runtime, in a process without TorchSharp.
    /// </summary>
    /// <param name="catalog"><c>mlContext.Model</c>.</param>
    /// <param name="model">A <see cref="ControllableMultiTaskTransformer"/>, or a chain holding exactly one.</param>
    /// <param name="path">The bundle file; written through a temporary file in the same folder, then renamed.</param>
    /// <param name="configurations">The configurations to include; null for all (E x W^T graphs: 64 for the
    /// default two-task network).</param>
    /// <param name="measureLatency">Whether to measure the batch-1 ONNX Runtime latency table on this machine and write
    /// it into the bundle with a description of the machine (default true; about a second for the default network;
    /// needs ONNX Runtime's native library), so that <c>Budget.Milliseconds</c> works when serving it.</param>
    /// <exception cref="ArgumentException">No (or more than one) controllable transformer in <paramref name="model"/>,
    /// an empty or repeated configuration list, or a configuration that does not fit the network.</exception>
    /// <exception cref="NotSupportedException">The transformer's model is not a <see cref="ControllableMultiTaskModel"/>.</exception>
    public static void ExportServingBundle(this ModelOperationsCatalog catalog, ITransformer model, string path,
        IEnumerable<WidthConfiguration>? configurations = null, bool measureLatency = true)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ControllableMultiTaskTransformer slim = Find(model);
        ControllableMultiTaskModel network = slim.Model switch
        {
            ControllableMultiTaskModel m => m,
            OnnxRuntimeMultiTaskModel o => o.Inner,
            _ => throw new NotSupportedException($"A serving bundle needs a ControllableMultiTaskModel; this transformer holds a {slim.Model.GetType().FullName}."),
        };
        CostTable costs = network.Costs;
        WidthConfiguration[] chosen = (configurations ?? AllConfigurations(costs)).ToArray();
        var graphs = chosen.Select(c => (c, MultiTaskOnnxExporter.ToBytes(network, c, slim.FeatureColumnName))).ToArray();
        ControlSnapshot control = slim.Control;
        BundleLatency? latency = null;
        if (measureLatency)
        {
            var options = new OnnxRuntimeServingOptions();
            using var fast = new OnnxRuntimeMultiTaskModel(network, options, ownsModel: false);
            latency = new BundleLatency(fast.MeasureLatency(), MachineDescription(options.IntraOpThreads), DateTime.UtcNow);
        }
        var bundle = new ServingBundle(network.Tasks, network.Channels, network.Height, network.Width, costs, network.Calibration,
            slim.FeatureColumnName, slim.BudgetColumnName, slim.TaskWeightsColumnName, control.Budget, network.Tasks.Select(t => control.TaskWeights[t.Name]).ToArray(), graphs,
            latency);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        bundle.Save(full);
    }

    /// <summary>"2 logical cores, AMD EPYC 7B13, Debian GNU/Linux 12, X64, ONNX Runtime intra-op threads default".</summary>
    internal static string MachineDescription(int intraOpThreads)
    {
        string cpu = "";
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "";
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return $"{Environment.ProcessorCount} logical cores{(cpu.Length > 0 ? ", " + cpu : "")}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, " +
               $"{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, ONNX Runtime intra-op threads {(intraOpThreads > 0 ? intraOpThreads.ToString(System.Globalization.CultureInfo.InvariantCulture) : "default")}";
    }

    /// <summary>Every configuration of <paramref name="costs"/>: each encoder option with each combination of decoder widths.</summary>
    internal static IEnumerable<WidthConfiguration> AllConfigurations(CostTable costs)
    {
        int tasks = costs.TaskCount, widths = costs.DecoderWidths.Count;
        for (int e = 0; e < costs.EncoderOptionCount; e++)
        {
            var d = new int[tasks];
            while (true)
            {
                yield return costs.Configuration(e, d);
                int t = tasks - 1;
                while (t >= 0 && ++d[t] == widths) d[t--] = 0;
                if (t < 0) break;
            }
        }
    }

    /// <summary>The single <see cref="ControllableMultiTaskTransformer"/> in <paramref name="model"/>.</summary>
    internal static ControllableMultiTaskTransformer Find(ITransformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var found = new List<ControllableMultiTaskTransformer>();
        void Walk(ITransformer t)
        {
            if (t is ControllableMultiTaskTransformer s) found.Add(s);
            else if (t is IEnumerable<ITransformer> chain)
                foreach (ITransformer inner in chain) Walk(inner);
        }
        Walk(model);
        return found.Count switch
        {
            1 => found[0],
            0 => throw new ArgumentException($"The model ({model.GetType().Name}) holds no ControllableMultiTaskTransformer.", nameof(model)),
            _ => throw new ArgumentException($"The model holds {found.Count} ControllableMultiTaskTransformers; pass the one to export.", nameof(model)),
        };
    }
}

/// <summary>A transformer through ONNX Runtime with chosen session settings (the transformer's default path is ONNX
/// Runtime already, see <see cref="ControllableMultiTaskTransformer.UseOnnxRuntime"/>).</summary>
public static class OnnxServingExtensions
{
    /// <summary>
    /// A new transformer over the same trained model with the same feature column, budget, task weights, per-row control
    /// column names and batch size,
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
            transformer.Budget, transformer.TaskWeights)
        {
            BatchSize = transformer.BatchSize,
            BudgetColumnName = transformer.BudgetColumnName,
            TaskWeightsColumnName = transformer.TaskWeightsColumnName,
        };
    }
}
