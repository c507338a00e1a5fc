namespace MLNetSlim.Control;

/// <summary>
/// Semantic segmentation metrics accumulated over images: a K x K confusion matrix over valid pixels (label in [0, K)
/// and not the ignore value). mIoU = mean over classes that occur in the label or the prediction of
/// TP / (TP + FP + FN); pixel accuracy = correct / valid pixels.
/// </summary>
internal sealed class SegmentationMetrics(int classes, int? ignoreIndex = null)
{
    private readonly long[,] _confusion = new long[classes, classes]; // [label, predicted]

    /// <summary>Adds one batch of predicted and true class indices (same length, any layout).</summary>
    public void Add(ReadOnlySpan<long> predicted, ReadOnlySpan<long> labels)
    {
        if (predicted.Length != labels.Length) throw new ArgumentException($"{predicted.Length} predictions for {labels.Length} labels.");
        for (int i = 0; i < labels.Length; i++)
        {
            long y = labels[i];
            if (y == ignoreIndex || y < 0 || y >= classes) continue;
            _confusion[y, Math.Clamp(predicted[i], 0, classes - 1)]++;
            Pixels++;
        }
    }

    /// <summary>Valid pixels seen.</summary>
    public long Pixels { get; private set; }

    /// <summary>Mean intersection over union, in [0, 1], over the classes present in labels or predictions.</summary>
    public double MeanIoU
    {
        get
        {
            double sum = 0;
            int present = 0;
            for (int k = 0; k < classes; k++)
            {
                long tp = _confusion[k, k], fn = 0, fp = 0;
                for (int j = 0; j < classes; j++)
                {
                    if (j == k) continue;
                    fn += _confusion[k, j];
                    fp += _confusion[j, k];
                }
                long union = tp + fp + fn;
                if (union == 0) continue;
                sum += (double)tp / union;
                present++;
            }
            return present == 0 ? 0 : sum / present;
        }
    }

    /// <summary>Correct valid pixels / valid pixels, in [0, 1].</summary>
    public double PixelAccuracy
    {
        get
        {
            long correct = 0, all = 0;
            for (int k = 0; k < classes; k++)
                for (int j = 0; j < classes; j++)
                {
                    all += _confusion[k, j];
                    if (k == j) correct += _confusion[k, j];
                }
            return all == 0 ? 0 : (double)correct / all;
        }
    }
}

/// <summary>
/// Depth metrics over valid pixels (label finite, positive and not the ignore value; Eigen et al., NIPS 2014):
/// RMSE = sqrt(mean (p - y)^2), abs-rel = mean |p - y| / y, delta &lt; 1.25 = share of pixels with max(p / y, y / p)
/// &lt; 1.25 (a non-positive prediction never counts).
/// </summary>
internal sealed class DepthMetrics(double? ignoreValue = null)
{
    private double _squared, _absRel;
    private long _delta, _count;

    /// <summary>Adds predicted and true depths (same length, same units).</summary>
    public void Add(ReadOnlySpan<float> predicted, ReadOnlySpan<float> labels)
    {
        if (predicted.Length != labels.Length) throw new ArgumentException($"{predicted.Length} predictions for {labels.Length} labels.");
        for (int i = 0; i < labels.Length; i++)
        {
            double y = labels[i], p = predicted[i];
            if (!IsValid(y, ignoreValue)) continue;
            _squared += (p - y) * (p - y);
            _absRel += Math.Abs(p - y) / y;
            if (p > 0 && Math.Max(p / y, y / p) < 1.25) _delta++;
            _count++;
        }
    }

    /// <summary>Whether a depth label is a measurement.</summary>
    public static bool IsValid(double y, double? ignoreValue) => double.IsFinite(y) && y > 0 && y != ignoreValue;

    /// <summary>Valid pixels seen.</summary>
    public long Pixels => _count;

    /// <summary>Root mean squared error, label units.</summary>
    public double Rmse => _count == 0 ? double.NaN : Math.Sqrt(_squared / _count);

    /// <summary>Mean absolute relative error.</summary>
    public double AbsRel => _count == 0 ? double.NaN : _absRel / _count;

    /// <summary>Share of pixels with max(p / y, y / p) &lt; 1.25, in [0, 1].</summary>
    public double Delta1 => _count == 0 ? double.NaN : (double)_delta / _count;
}

/// <summary>
/// Surface-normal metrics over valid pixels (label vector not all zero): the angle between the normalised prediction
/// and the normalised label, in degrees; mean angular error and the share within 11.25 degrees (Eigen &amp; Fergus,
/// ICCV 2015). Vectors are given channel-planar, (3, P): x of every pixel, then y, then z.
/// </summary>
internal sealed class NormalMetrics
{
    private double _angles;
    private long _within, _count;

    /// <summary>Adds (3, P) predicted and true normals.</summary>
    public void Add(ReadOnlySpan<float> predicted, ReadOnlySpan<float> labels)
    {
        if (predicted.Length != labels.Length || labels.Length % 3 != 0)
            throw new ArgumentException($"Normals must be (3, P) with equal sizes; got {predicted.Length} and {labels.Length} values.");
        int p = labels.Length / 3;
        for (int i = 0; i < p; i++)
        {
            double lx = labels[i], ly = labels[p + i], lz = labels[2 * p + i];
            double ln = Math.Sqrt(lx * lx + ly * ly + lz * lz);
            if (!(ln > 0) || !double.IsFinite(ln)) continue;
            double px = predicted[i], py = predicted[p + i], pz = predicted[2 * p + i];
            double pn = Math.Sqrt(px * px + py * py + pz * pz);
            double cos = pn > 0 ? (px * lx + py * ly + pz * lz) / (pn * ln) : 0; // a zero prediction is 90 degrees off
            double angle = Math.Acos(Math.Clamp(cos, -1, 1)) * 180 / Math.PI;
            _angles += angle;
            if (angle < 11.25) _within++;
            _count++;
        }
    }

    /// <summary>Valid pixels seen.</summary>
    public long Pixels => _count;

    /// <summary>Mean angular error, degrees.</summary>
    public double MeanAngleError => _count == 0 ? double.NaN : _angles / _count;

    /// <summary>Share of pixels within 11.25 degrees, in [0, 1].</summary>
    public double Within11_25 => _count == 0 ? double.NaN : (double)_within / _count;
}

/// <summary>
/// F-measure of a binary map (edges, saliency) over valid pixels (label not the ignore value; a label &gt;= 0.5 is
/// positive): F_beta = (1 + beta^2) P R / (beta^2 P + R) with precision P and recall R pooled over all pixels of all
/// images, at thresholds t = 0.01 .. 0.99 in steps of 0.01 on the predicted probability (a pixel is positive when its
/// probability is &gt;= t). <see cref="FAtHalf"/> is F at t = 0.5 (the edges metric); <see cref="MaxF"/> the maximum
/// over the thresholds (the saliency metric, beta^2 = 0.3 as Achanta et al., CVPR 2009). Pixel-exact: no matching
/// tolerance as in the BSDS edge benchmark.
/// </summary>
internal sealed class BinaryFMeasure(double betaSquared = 1.0, double? ignoreValue = null)
{
    /// <summary>Number of thresholds (0.01 .. 0.99).</summary>
    public const int Thresholds = 99;

    private readonly long[] _truePositive = new long[Thresholds];
    private readonly long[] _predictedPositive = new long[Thresholds];
    private long _positive;

    /// <summary>Threshold i (0-based): (i + 1) / 100.</summary>
    public static double Threshold(int i) => (i + 1) / 100.0;

    /// <summary>Adds predicted probabilities in [0, 1] and labels (same length).</summary>
    public void Add(ReadOnlySpan<float> probabilities, ReadOnlySpan<float> labels)
    {
        if (probabilities.Length != labels.Length) throw new ArgumentException($"{probabilities.Length} predictions for {labels.Length} labels.");
        for (int i = 0; i < labels.Length; i++)
        {
            double y = labels[i];
            if (y == ignoreValue || !double.IsFinite(y)) continue;
            bool positive = y >= 0.5;
            if (positive) _positive++;
            // positive at threshold j iff p >= (j + 1) / 100, i.e. for j < floor(100 p), with a float tolerance (up to 99).
            int above = (int)Math.Min(Thresholds, Math.Floor(probabilities[i] * 100.0 + 1e-5));
            for (int j = 0; j < above; j++)
            {
                _predictedPositive[j]++;
                if (positive) _truePositive[j]++;
            }
        }
    }

    /// <summary>F at threshold index <paramref name="i"/>; 0 when precision and recall are both 0.</summary>
    public double F(int i)
    {
        double precision = _predictedPositive[i] == 0 ? 0 : (double)_truePositive[i] / _predictedPositive[i];
        double recall = _positive == 0 ? 0 : (double)_truePositive[i] / _positive;
        double denominator = betaSquared * precision + recall;
        return denominator == 0 ? 0 : (1 + betaSquared) * precision * recall / denominator;
    }

    /// <summary>F at threshold 0.5.</summary>
    public double FAtHalf => F(49);

    /// <summary>Maximum F over the thresholds.</summary>
    public double MaxF => Enumerable.Range(0, Thresholds).Max(F);
}
