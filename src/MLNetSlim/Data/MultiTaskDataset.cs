using MLNetSlim.Architecture;

namespace MLNetSlim.Data;

/// <summary>
/// An in-memory multi-task image data set: N images of shape (C, H, W) as float32 in [0, 1], row-major NCHW, and per
/// task either one integer label per image (classification: class index in [0, K_t), or <see cref="MissingLabel"/> (-1)
/// when the row does not label that task: ignored by the task's loss and metrics) or a label map per image
/// (per-pixel tasks, <see cref="PixelLabels"/>: (L_t, H, W) floats per image with L_t = <see cref="PixelLabelChannels"/>:
/// 3 for normals, else 1; segmentation maps hold class indices or the task's ignore value).
/// </summary>
public sealed class MultiTaskDataset
{
    /// <summary>Creates a data set.</summary>
    /// <param name="images">N*C*H*W floats, NCHW order.</param>
    /// <param name="channels">C.</param>
    /// <param name="height">H.</param>
    /// <param name="width">W.</param>
    /// <param name="tasks">The tasks, in label order.</param>
    /// <param name="labels">[task][n] class indices (<see cref="MissingLabel"/> = the row does not label the task).</param>
    /// <exception cref="ArgumentException">Sizes disagree or a label is out of its task's range.</exception>
    public MultiTaskDataset(float[] images, int channels, int height, int width, IReadOnlyList<TaskDefinition> tasks, int[][] labels)
        : this(images, channels, height, width, tasks, labels, null)
    {
    }

    /// <summary>Creates a data set with per-image and per-pixel tasks.</summary>
    /// <param name="images">N*C*H*W floats, NCHW order.</param>
    /// <param name="channels">C.</param>
    /// <param name="height">H.</param>
    /// <param name="width">W.</param>
    /// <param name="tasks">The tasks, in label order.</param>
    /// <param name="labels">[task][n] class indices of the per-image tasks (<see cref="MissingLabel"/> = the row does not
    /// label the task); an empty array for a per-pixel task.</param>
    /// <param name="pixelLabels">[task] N*L_t*H*W label-map floats of the per-pixel tasks (null for a per-image task);
    /// null when every task is per-image.</param>
    /// <exception cref="ArgumentException">Sizes disagree or a label is out of its task's range.</exception>
    public MultiTaskDataset(float[] images, int channels, int height, int width, IReadOnlyList<TaskDefinition> tasks, int[][] labels, float[]?[]? pixelLabels)
    {
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"Image shape (C, H, W) = ({channels}, {height}, {width}) must be positive.");
        int size = channels * height * width;
        if (images.Length % size != 0)
            throw new ArgumentException($"{images.Length} floats is not a whole number of ({channels}, {height}, {width}) images.", nameof(images));
        if (labels.Length != tasks.Count)
            throw new ArgumentException($"{labels.Length} label arrays for {tasks.Count} tasks.", nameof(labels));
        int n = images.Length / size;
        if (pixelLabels is not null && pixelLabels.Length != tasks.Count)
            throw new ArgumentException($"{pixelLabels.Length} label-map arrays for {tasks.Count} tasks.", nameof(pixelLabels));
        for (int t = 0; t < tasks.Count; t++)
        {
            if (tasks[t].IsPerPixel)
            {
                float[] maps = pixelLabels?[t] ?? throw new ArgumentException($"Task '{tasks[t].Name}' is per-pixel ({tasks[t].Kind}) and needs label maps.", nameof(pixelLabels));
                long expected = (long)n * PixelLabelChannels(tasks[t]) * height * width;
                if (maps.Length != expected)
                    throw new ArgumentException($"Task '{tasks[t].Name}' has {maps.Length} label-map floats; {n} images of ({PixelLabelChannels(tasks[t])}, {height}, {width}) need {expected}.", nameof(pixelLabels));
                if (tasks[t].Kind == TaskKind.Segmentation)
                    foreach (float y in maps)
                        if (y != tasks[t].IgnoreValue && !(y >= 0 && y < tasks[t].NumClasses && y == MathF.Floor(y)))
                            throw new ArgumentException($"Task '{tasks[t].Name}' has label {y}, neither a class in [0, {tasks[t].NumClasses}) nor the ignore value ({(tasks[t].IgnoreValue?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none")}).", nameof(pixelLabels));
                continue;
            }
            if (labels[t].Length != n)
                throw new ArgumentException($"Task '{tasks[t].Name}' has {labels[t].Length} labels for {n} images.", nameof(labels));
            foreach (int y in labels[t])
                if (y != MissingLabel && (y < 0 || y >= tasks[t].NumClasses))
                    throw new ArgumentException($"Task '{tasks[t].Name}' has label {y}, outside [0, {tasks[t].NumClasses}) and not the missing label {MissingLabel}.", nameof(labels));
        }
        Images = images;
        Channels = channels;
        Height = height;
        Width = width;
        Tasks = tasks.ToArray();
        Labels = labels.Select((l, t) => Tasks[t].IsPerPixel ? Array.Empty<int>() : l).ToArray();
        PixelLabels = Enumerable.Range(0, Tasks.Count).Select(t => Tasks[t].IsPerPixel ? pixelLabels![t] : null).ToArray();
    }

    /// <summary>The class index of a missing per-image label: the row does not label that task (e.g. CIFAR100-MTL,
    /// where each image labels one of 20 tasks). Losses give such rows no gradient and metrics do not count them.</summary>
    public const int MissingLabel = -1;

    /// <summary>Label-map channels L of a per-pixel task: 3 for normals, else 1.</summary>
    public static int PixelLabelChannels(TaskDefinition task) => task.Kind == TaskKind.Normals ? 3 : 1;

    /// <summary>Images, N*C*H*W floats in NCHW order.</summary>
    public float[] Images { get; }

    /// <summary>C.</summary>
    public int Channels { get; }

    /// <summary>H.</summary>
    public int Height { get; }

    /// <summary>W.</summary>
    public int Width { get; }

    /// <summary>Floats per image, C*H*W.</summary>
    public int ImageSize => Channels * Height * Width;

    /// <summary>Number of images N.</summary>
    public int Count => Images.Length / ImageSize;

    /// <summary>The tasks.</summary>
    public IReadOnlyList<TaskDefinition> Tasks { get; }

    /// <summary>Labels of the per-image tasks, [task][n]; empty for a per-pixel task.</summary>
    public int[][] Labels { get; }

    /// <summary>Label maps of the per-pixel tasks, [task] N*L*H*W floats (image-major); null for a per-image task.</summary>
    public float[]?[] PixelLabels { get; }

    /// <summary>Whether any task is per-pixel.</summary>
    public bool HasPixelLabels => Tasks.Any(t => t.IsPerPixel);

    /// <summary>The images at <paramref name="indices"/>, in that order.</summary>
    public MultiTaskDataset Subset(IReadOnlyList<int> indices)
    {
        int size = ImageSize;
        var images = new float[indices.Count * size];
        for (int i = 0; i < indices.Count; i++)
            Array.Copy(Images, (long)indices[i] * size, images, (long)i * size, size);
        int[][] labels = Labels.Select((l, t) => Tasks[t].IsPerPixel ? l : indices.Select(i => l[i]).ToArray()).ToArray();
        float[]?[] maps = PixelLabels.Select((m, t) =>
        {
            if (m is null) return null;
            int mapSize = PixelLabelChannels(Tasks[t]) * Height * Width;
            var subset = new float[indices.Count * mapSize];
            for (int i = 0; i < indices.Count; i++) Array.Copy(m, (long)indices[i] * mapSize, subset, (long)i * mapSize, mapSize);
            return subset;
        }).ToArray();
        return new MultiTaskDataset(images, Channels, Height, Width, Tasks, labels, maps);
    }

    /// <summary>The same images with only the tasks named in <paramref name="taskNames"/>, in that order (e.g. one task
    /// for a single-task baseline). The image array is shared, not copied.</summary>
    /// <exception cref="ArgumentException">A name is not a task of this data set.</exception>
    public MultiTaskDataset SelectTasks(params string[] taskNames)
    {
        int[] idx = taskNames.Select(n =>
        {
            for (int t = 0; t < Tasks.Count; t++) if (Tasks[t].Name == n) return t;
            throw new ArgumentException($"Task '{n}' is not in this data set; its tasks are {string.Join(", ", Tasks.Select(t => t.Name))}.", nameof(taskNames));
        }).ToArray();
        return new MultiTaskDataset(Images, Channels, Height, Width, idx.Select(i => Tasks[i]).ToArray(), idx.Select(i => Labels[i]).ToArray(),
            idx.Select(i => PixelLabels[i]).ToArray());
    }

    /// <summary>The first <paramref name="count"/> images (all when fewer).</summary>
    public MultiTaskDataset Take(int count) => Subset(Enumerable.Range(0, Math.Min(count, Count)).ToArray());

    /// <summary>A seeded random split: a held-out part of <paramref name="heldOutFraction"/> and the rest.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The fraction is not in (0, 1).</exception>
    public (MultiTaskDataset Train, MultiTaskDataset HeldOut) Split(double heldOutFraction, int seed)
    {
        if (!(heldOutFraction > 0 && heldOutFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(heldOutFraction), heldOutFraction, "The held-out fraction must be in (0, 1).");
        int[] order = Enumerable.Range(0, Count).ToArray();
        new Random(seed).Shuffle(order);
        int heldOut = Math.Max(1, (int)Math.Round(heldOutFraction * Count));
        return (Subset(order[heldOut..]), Subset(order[..heldOut]));
    }
}
