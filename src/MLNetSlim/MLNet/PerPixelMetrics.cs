using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Data;

namespace MLNetSlim.MLNet;

/// <summary>
/// Metrics of one per-pixel task (segmentation, depth, surface normals, edges, saliency) over the valid pixels of all
/// evaluated rows, pooled (not averaged per image); what <see cref="MLNetSlimEvaluation.EvaluatePerPixel"/> returns
/// beside ML.NET's <see cref="MulticlassClassificationMetrics"/> of the classification tasks. The properties of the
/// task's kind are set, the others are NaN:
/// <list type="bullet">
/// <item>Segmentation: <see cref="MeanIoU"/> (mean over the classes present in labels or predictions of
/// TP / (TP + FP + FN)) and <see cref="PixelAccuracy"/>, fractions in [0, 1]; pixels labelled with the task's
/// IgnoreValue or outside [0, K) are not counted. The predicted class of a pixel is the arg-max of its scores.</item>
/// <item>Depth: <see cref="Rmse"/> (label units), <see cref="AbsRel"/> (mean |p - y| / y) and <see cref="Delta1"/>
/// (share of pixels with max(p / y, y / p) &lt; 1.25), over pixels whose label is finite, positive and not the
/// IgnoreValue (Eigen et al., NIPS 2014).</item>
/// <item>Normals: <see cref="MeanAngleError"/> (degrees) and <see cref="Within11_25"/> (share of pixels within 11.25
/// degrees), over pixels whose label vector is not zero (Eigen and Fergus, ICCV 2015).</item>
/// <item>Edges and saliency: <see cref="F"/> (F-measure at probability threshold 0.5, beta^2 = 1 for edges, 0.3 for
/// saliency) and <see cref="MaxF"/> (the best F over thresholds 0.01 .. 0.99); a label &gt;= 0.5 is positive, the
/// IgnoreValue is skipped; pixel-exact (no matching tolerance as in the BSDS benchmark).</item>
/// </list>
/// The same computation as the core evaluator's (the calibration table's metrics), on the transformer's
/// <c>Score.T</c> column.
/// </summary>
/// <param name="Kind">The task's kind.</param>
/// <param name="Pixels">Valid pixels counted.</param>
/// <param name="MeanIoU">Segmentation: mean intersection over union, fraction.</param>
/// <param name="PixelAccuracy">Segmentation: correct / valid pixels, fraction.</param>
/// <param name="Rmse">Depth: root mean squared error, label units.</param>
/// <param name="AbsRel">Depth: mean absolute relative error.</param>
/// <param name="Delta1">Depth: share of pixels with max(p / y, y / p) &lt; 1.25, fraction.</param>
/// <param name="MeanAngleError">Normals: mean angle between prediction and label, degrees.</param>
/// <param name="Within11_25">Normals: share of pixels within 11.25 degrees, fraction.</param>
/// <param name="F">Edges and saliency: F-measure at threshold 0.5.</param>
/// <param name="MaxF">Edges and saliency: maximum F over the thresholds 0.01 .. 0.99.</param>
public sealed record PerPixelMetrics(TaskKind Kind, long Pixels, double MeanIoU, double PixelAccuracy, double Rmse, double AbsRel, double Delta1,
    double MeanAngleError, double Within11_25, double F, double MaxF)
{
    /// <summary>The kind's primary metric (the one the calibration table and the search use): mIoU, RMSE (lower is
    /// better), mean angle error (lower is better), F at 0.5 (edges) or max F (saliency).</summary>
    public double Primary => Kind switch
    {
        TaskKind.Segmentation => MeanIoU,
        TaskKind.Depth => Rmse,
        TaskKind.Normals => MeanAngleError,
        TaskKind.Edges => F,
        _ => MaxF,
    };

    /// <summary>Accumulates one task's metrics row by row (the scores as the transformer writes them: (C, H, W)
    /// probabilities for segmentation, depths, unit normals, probabilities for edges and saliency).</summary>
    internal sealed class Accumulator
    {
        private readonly TaskDefinition _task;
        private readonly int _pixels;
        private readonly SegmentationMetrics? _segmentation;
        private readonly DepthMetrics? _depth;
        private readonly NormalMetrics? _normals;
        private readonly BinaryFMeasure? _binary;
        private long[] _predicted = [], _labels = [];
        private long _binaryPixels;

        public Accumulator(TaskDefinition task, int height, int width)
        {
            if (!task.IsPerPixel) throw new ArgumentException($"Task '{task.Name}' is a classification task.", nameof(task));
            _task = task;
            _pixels = height * width;
            switch (task.Kind)
            {
                case TaskKind.Segmentation:
                    _segmentation = new SegmentationMetrics(task.NumClasses, task.IgnoreValue is double v ? (int)v : null);
                    _predicted = new long[_pixels];
                    _labels = new long[_pixels];
                    break;
                case TaskKind.Depth: _depth = new DepthMetrics(task.IgnoreValue); break;
                case TaskKind.Normals: _normals = new NormalMetrics(); break;
                case TaskKind.Edges: _binary = new BinaryFMeasure(1.0, task.IgnoreValue); break;
                default: _binary = new BinaryFMeasure(0.3, task.IgnoreValue); break;
            }
        }

        /// <summary>Score values per row: K*H*W for segmentation, 3*H*W for normals, H*W otherwise.</summary>
        public int ScoreSize => _task.Kind switch
        {
            TaskKind.Segmentation => _task.NumClasses * _pixels,
            TaskKind.Normals => 3 * _pixels,
            _ => _pixels,
        };

        /// <summary>Adds one row: its scores and its label map (L*H*W, channel-planar).</summary>
        public void Add(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
        {
            switch (_task.Kind)
            {
                case TaskKind.Segmentation:
                    int k = _task.NumClasses;
                    for (int p = 0; p < _pixels; p++)
                    {
                        int best = 0;
                        float max = scores[p];
                        for (int c = 1; c < k; c++)
                            if (scores[c * _pixels + p] > max) { max = scores[c * _pixels + p]; best = c; }
                        _predicted[p] = best;
                        _labels[p] = (long)labels[p];
                    }
                    _segmentation!.Add(_predicted, _labels);
                    break;
                case TaskKind.Depth: _depth!.Add(scores, labels); break;
                case TaskKind.Normals: _normals!.Add(scores, labels); break;
                default:
                    _binary!.Add(scores, labels);
                    foreach (float y in labels)
                        if (y != _task.IgnoreValue && float.IsFinite(y)) _binaryPixels++; // BinaryFMeasure's valid pixels
                    break;
            }
        }

        public PerPixelMetrics Result() => _task.Kind switch
        {
            TaskKind.Segmentation => new(_task.Kind, _segmentation!.Pixels, _segmentation.MeanIoU, _segmentation.PixelAccuracy, double.NaN, double.NaN,
                double.NaN, double.NaN, double.NaN, double.NaN, double.NaN),
            TaskKind.Depth => new(_task.Kind, _depth!.Pixels, double.NaN, double.NaN, _depth.Rmse, _depth.AbsRel, _depth.Delta1,
                double.NaN, double.NaN, double.NaN, double.NaN),
            TaskKind.Normals => new(_task.Kind, _normals!.Pixels, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN,
                _normals.MeanAngleError, _normals.Within11_25, double.NaN, double.NaN),
            _ => new(_task.Kind, _binaryPixels, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN,
                _binary!.FAtHalf, _binary.MaxF),
        };
    }

    /// <summary>Per per-pixel task of <paramref name="tasks"/>, its metrics over the rows of <paramref name="scored"/>
    /// (one cursor pass).</summary>
    internal static Dictionary<string, PerPixelMetrics> Evaluate(IDataView scored, IReadOnlyList<TaskDefinition> tasks, int height, int width,
        IReadOnlyDictionary<string, string> labelColumns)
    {
        TaskDefinition[] dense = tasks.Where(t => t.IsPerPixel).ToArray();
        var accumulators = dense.Select(t => new Accumulator(t, height, width)).ToArray();
        var scoreColumns = new DataViewSchema.Column[dense.Length];
        var labelMapColumns = new DataViewSchema.Column[dense.Length];
        for (int i = 0; i < dense.Length; i++)
        {
            TaskDefinition t = dense[i];
            string name = ControllableMultiTaskTransformer.ScoreColumnName(t.Name);
            int want = accumulators[i].ScoreSize;
            if (scored.Schema.GetColumnOrNull(name) is not DataViewSchema.Column score)
                throw new ArgumentOutOfRangeException(nameof(scored),
                    $"Score column '{name}' of per-pixel task '{t.Name}' ({t.Kind}) not found in the scored data; expected Vector<Single, {want}> as the transformer writes it. " +
                    $"Pass the transformer's output (transformer.Transform(data)). Columns: [{string.Join(", ", scored.Schema.Select(c => c.Name))}].");
            if (score.Type is not VectorDataViewType v || v.ItemType != NumberDataViewType.Single || v.Size != want)
                throw new ArgumentOutOfRangeException(nameof(scored),
                    $"Score column '{name}' of per-pixel task '{t.Name}' ({t.Kind}) is {SchemaChecks.Describe(score.Type)}; expected Vector<Single, {want}> " +
                    $"({(t.Kind == TaskKind.Segmentation ? $"{t.NumClasses} classes" : t.Kind == TaskKind.Normals ? "3 channels" : "1 channel")} x {height} x {width}).");
            scoreColumns[i] = score;
            labelMapColumns[i] = SchemaChecks.LabelMapColumn(scored.Schema, t.Name, t.Kind.ToString(), labelColumns[t.Name],
                MultiTaskDataset.PixelLabelChannels(t), height, width, nameof(scored));
        }
        if (dense.Length > 0)
        {
            using DataViewRowCursor cursor = scored.GetRowCursor(scoreColumns.Concat(labelMapColumns));
            var getScores = scoreColumns.Select(c => cursor.GetGetter<VBuffer<float>>(c)).ToArray();
            var getLabels = labelMapColumns.Select(c => cursor.GetGetter<VBuffer<float>>(c)).ToArray();
            VBuffer<float> scores = default, labels = default;
            var scoreValues = new float[dense.Length][];
            var labelValues = new float[dense.Length][];
            for (int i = 0; i < dense.Length; i++)
            {
                scoreValues[i] = new float[accumulators[i].ScoreSize];
                labelValues[i] = new float[MultiTaskDataset.PixelLabelChannels(dense[i]) * height * width];
            }
            while (cursor.MoveNext())
                for (int i = 0; i < dense.Length; i++)
                {
                    getScores[i](ref scores);
                    getLabels[i](ref labels);
                    scores.CopyTo(scoreValues[i]);
                    labels.CopyTo(labelValues[i]);
                    accumulators[i].Add(scoreValues[i], labelValues[i]);
                }
        }
        var result = new Dictionary<string, PerPixelMetrics>(StringComparer.Ordinal);
        for (int i = 0; i < dense.Length; i++) result[dense[i].Name] = accumulators[i].Result();
        return result;
    }
}
