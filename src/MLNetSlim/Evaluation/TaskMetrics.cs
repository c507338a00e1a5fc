using MLNetSlim.Architecture;
using MLNetSlim.Control;
using static TorchSharp.torch;

namespace MLNetSlim.Evaluation;

/// <summary>
/// Accumulates one task's standard metrics over batches of network outputs and labels (as <c>TensorBatches</c> makes
/// them). <see cref="Primary"/> is the metric the calibration table and the search use (<see cref="TaskDefinition.PrimaryMetric"/>,
/// direction <see cref="TaskDefinition.HigherIsBetter"/>); <see cref="All"/> names every metric of the kind.
/// </summary>
internal sealed class TaskMetrics
{
    private readonly TaskDefinition _task;
    private readonly SegmentationMetrics? _segmentation;
    private readonly DepthMetrics? _depth;
    private readonly NormalMetrics? _normals;
    private readonly BinaryFMeasure? _binary;
    private long _correct, _count;

    public TaskMetrics(TaskDefinition task)
    {
        _task = task;
        switch (task.Kind)
        {
            case TaskKind.Segmentation: _segmentation = new SegmentationMetrics(task.NumClasses, task.IgnoreValue is double v ? (int)v : null); break;
            case TaskKind.Depth: _depth = new DepthMetrics(task.IgnoreValue); break;
            case TaskKind.Normals: _normals = new NormalMetrics(); break;
            case TaskKind.Edges: _binary = new BinaryFMeasure(1.0, task.IgnoreValue); break;
            case TaskKind.Saliency: _binary = new BinaryFMeasure(0.3, task.IgnoreValue); break;
        }
    }

    /// <summary>Adds a batch: the task's output and labels.</summary>
    public void Add(Tensor output, Tensor labels)
    {
        using var scope = NewDisposeScope();
        switch (_task.Kind)
        {
            case TaskKind.Classification:
                // Rows without a label for this task (class index -1) are not counted.
                Tensor labelled = labels.ge(0);
                _correct += output.argmax(1).eq(labels).logical_and(labelled).sum().item<long>();
                _count += labelled.sum().item<long>();
                break;
            case TaskKind.Segmentation:
                _segmentation!.Add(output.argmax(1).cpu().data<long>().ToArray(), labels.cpu().data<long>().ToArray());
                break;
            case TaskKind.Depth:
                _depth!.Add(output.cpu().data<float>().ToArray(), labels.cpu().data<float>().ToArray());
                break;
            case TaskKind.Normals:
                // (N, 3, H, W) -> (3, N*H*W) channel-planar.
                _normals!.Add(output.transpose(0, 1).contiguous().cpu().data<float>().ToArray(),
                    labels.transpose(0, 1).contiguous().cpu().data<float>().ToArray());
                break;
            default:
                _binary!.Add(output.sigmoid().cpu().data<float>().ToArray(), labels.cpu().data<float>().ToArray());
                break;
        }
    }

    /// <summary>The primary metric.</summary>
    public double Primary => _task.Kind switch
    {
        TaskKind.Classification => _count > 0 ? (double)_correct / _count : throw new InvalidOperationException(
            $"Task '{_task.Name}' has no labelled row in the evaluated data (every row's label for it is missing), so its accuracy is undefined. " +
            "Evaluate or calibrate on data with labelled rows of every task (e.g. a larger Options.ValidationFraction, or Options.ValidationData)."),
        TaskKind.Segmentation => _segmentation!.MeanIoU,
        TaskKind.Depth => _depth!.Rmse,
        TaskKind.Normals => _normals!.MeanAngleError,
        TaskKind.Edges => _binary!.FAtHalf,
        _ => _binary!.MaxF,
    };

    /// <summary>Every metric of the task kind, by name.</summary>
    public IReadOnlyDictionary<string, double> All => _task.Kind switch
    {
        TaskKind.Classification => new Dictionary<string, double> { ["accuracy"] = Primary },
        TaskKind.Segmentation => new Dictionary<string, double> { ["mIoU"] = _segmentation!.MeanIoU, ["pixelAccuracy"] = _segmentation.PixelAccuracy },
        TaskKind.Depth => new Dictionary<string, double> { ["RMSE"] = _depth!.Rmse, ["absRel"] = _depth.AbsRel, ["delta1.25"] = _depth.Delta1 },
        TaskKind.Normals => new Dictionary<string, double> { ["meanAngleError"] = _normals!.MeanAngleError, ["within11.25"] = _normals.Within11_25 },
        TaskKind.Edges => new Dictionary<string, double> { ["F"] = _binary!.FAtHalf, ["maxF"] = _binary.MaxF },
        _ => new Dictionary<string, double> { ["maxF"] = _binary!.MaxF, ["F"] = _binary.FAtHalf },
    };
}
