using MLNetSlim.Architecture;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetSlim.Training;

/// <summary>
/// The standard loss of each task kind (see docs/method.md). Outputs and labels as the network and
/// the batching produce them:
/// classification (N, K) logits and (N) int64 classes: cross-entropy averaged over the labelled rows; the class index
/// <see cref="MissingClass"/> (-1) marks a row without a label for this task (e.g. CIFAR100-MTL, where a row labels one
/// task of 20): it gives no loss and no gradient, and a batch without any labelled row gives a zero loss;
/// segmentation (N, K, H, W) logits and (N, H, W) int64 classes: cross-entropy ignoring the task's ignore value;
/// depth (N, 1, H, W) and (N, 1, H, W) float: L1 over valid pixels (label finite, positive, not the ignore value);
/// normals (N, 3, H, W) and (N, 3, H, W) float: mean of 1 - cos(prediction, label) over pixels whose label is not all zero;
/// edges and saliency (N, 1, H, W) logits and (N, 1, H, W) float in [0, 1]: class-balanced binary cross-entropy (HED,
/// Xie &amp; Tu, ICCV 2015): positives weighted by the share of negatives and negatives by the share of positives among the
/// batch's valid pixels. A batch without valid pixels gives a zero loss that still depends on the output (so backward works).
/// </summary>
internal static class TaskLosses
{
    /// <summary>Default ignore index of segmentation when the task sets none (no class can be negative).</summary>
    public const long NoIgnoreIndex = -100;

    /// <summary>The class index of a missing classification label (a row that does not label this task).</summary>
    public const long MissingClass = -1;

    /// <summary>The loss of <paramref name="task"/> for <paramref name="output"/> against <paramref name="labels"/>: a scalar.</summary>
    public static Tensor Loss(TaskDefinition task, Tensor output, Tensor labels)
    {
        using var scope = NewDisposeScope();
        Tensor loss = task.Kind switch
        {
            TaskKind.Classification => Classification(output, labels),
            TaskKind.Segmentation => Segmentation(output, labels, task.IgnoreValue),
            TaskKind.Depth => Depth(output, labels, task.IgnoreValue),
            TaskKind.Normals => Normals(output, labels),
            TaskKind.Edges or TaskKind.Saliency => BalancedBinaryCrossEntropy(output, labels, task.IgnoreValue),
            _ => throw new ArgumentException($"Task '{task.Name}' has unknown kind {task.Kind}."),
        };
        return loss.MoveToOuterDisposeScope();
    }

    private static Tensor Classification(Tensor logits, Tensor labels)
    {
        using Tensor valid = labels.ne(MissingClass);
        if (!valid.any().item<bool>()) return logits.sum() * 0;
        return nn.functional.cross_entropy(logits, labels, ignore_index: MissingClass);
    }

    private static Tensor Segmentation(Tensor logits, Tensor labels, double? ignore)
    {
        long ignoreIndex = ignore is double v ? (long)v : NoIgnoreIndex;
        using Tensor valid = labels.ne(ignoreIndex);
        if (!valid.any().item<bool>()) return logits.sum() * 0;
        return nn.functional.cross_entropy(logits, labels, ignore_index: ignoreIndex);
    }

    private static Tensor Valid(Tensor labels, double? ignore)
    {
        Tensor valid = labels.isfinite();
        if (ignore is double v) valid = valid.logical_and(labels.ne(v));
        return valid;
    }

    private static Tensor Depth(Tensor predicted, Tensor labels, double? ignore)
    {
        Tensor valid = Valid(labels, ignore).logical_and(labels.gt(0));
        Tensor count = valid.sum();
        if (count.item<long>() == 0) return predicted.sum() * 0;
        Tensor safeLabels = where(valid, labels, zeros_like(labels));
        return (predicted - safeLabels).abs().mul(valid).sum() / count;
    }

    private static Tensor Normals(Tensor predicted, Tensor labels)
    {
        Tensor norm = labels.norm(1, keepdim: true); // (N, 1, H, W)
        Tensor valid = norm.gt(0).logical_and(norm.isfinite()).squeeze(1);
        Tensor count = valid.sum();
        if (count.item<long>() == 0) return predicted.sum() * 0;
        Tensor cos = nn.functional.cosine_similarity(predicted, where(norm.isfinite(), labels, zeros_like(labels)), 1, 1e-8); // (N, H, W)
        return (1 - cos).mul(valid).sum() / count;
    }

    private static Tensor BalancedBinaryCrossEntropy(Tensor logits, Tensor labels, double? ignore)
    {
        Tensor valid = Valid(labels, ignore);
        Tensor target = where(valid, labels, zeros_like(labels)).ge(0.5).to_type(ScalarType.Float32);
        Tensor validF = valid.to_type(ScalarType.Float32);
        Tensor count = validF.sum();
        if (count.item<float>() == 0) return logits.sum() * 0;
        Tensor positives = (target * validF).sum();
        Tensor negativeShare = (count - positives) / count; // weight of a positive pixel
        Tensor positiveShare = positives / count;           // weight of a negative pixel
        Tensor weights = (target * negativeShare + (1 - target) * positiveShare) * validF;
        Tensor perPixel = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction: nn.Reduction.None);
        return (perPixel * weights).sum() / count;
    }
}
