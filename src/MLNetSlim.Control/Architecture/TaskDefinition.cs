namespace MLNetSlim.Architecture;

/// <summary>What a task decoder predicts.</summary>
public enum TaskKind
{
    /// <summary>One class per image: the decoder outputs logits of shape (N, K).</summary>
    Classification = 0,

    /// <summary>One class per pixel: the decoder outputs logits of shape (N, K, H, W). Loss: cross-entropy with an
    /// ignore index; metric: mIoU (higher is better), also pixel accuracy.</summary>
    Segmentation = 1,

    /// <summary>Depth per pixel: the decoder outputs (N, 1, H, W) in the label's units. Loss: L1 on valid pixels;
    /// metric: RMSE (lower is better), also abs-rel and delta &lt; 1.25.</summary>
    Depth = 2,

    /// <summary>Surface normal per pixel: the decoder outputs (N, 3, H, W), unit vectors after normalisation. Loss:
    /// 1 - cosine to the unit label; metric: mean angular error in degrees (lower is better), also % within 11.25 deg.</summary>
    Normals = 3,

    /// <summary>Edge probability per pixel: the decoder outputs logits (N, 1, H, W). Loss: class-balanced binary
    /// cross-entropy; metric: F-measure at threshold 0.5 (higher is better).</summary>
    Edges = 4,

    /// <summary>Saliency probability per pixel: the decoder outputs logits (N, 1, H, W). Loss: class-balanced binary
    /// cross-entropy; metric: max F-measure over thresholds (higher is better), also F at 0.5.</summary>
    Saliency = 5,
}

/// <summary>
/// One task of a multi-task network: its name, kind and number of classes (classification, segmentation) or output
/// channels (depth and edges and saliency 1, normals 3).
/// </summary>
public sealed record TaskDefinition
{
    /// <summary>Creates a task.</summary>
    /// <param name="name">Unique task name; used in column names (Score.&lt;Name&gt;) and task weights.</param>
    /// <param name="kind">What the decoder predicts.</param>
    /// <param name="numClasses">Number of classes, at least 2, for classification and segmentation; for the other
    /// per-pixel kinds the output channels (<see cref="ChannelsOf"/>: 1 for depth, edges and saliency, 3 for normals).</param>
    /// <param name="classNames">Optional class names (length <paramref name="numClasses"/>); defaults to "0".."K-1".</param>
    /// <exception cref="ArgumentException">Empty name, unknown kind, fewer than 2 classes, a channel count that does not
    /// fit the kind, or class names of the wrong length.</exception>
    public TaskDefinition(string name, TaskKind kind, int numClasses, IReadOnlyList<string>? classNames = null)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("A task needs a name.", nameof(name));
        if (!Enum.IsDefined(kind)) throw new ArgumentException($"Task '{name}' has unknown kind {kind}.", nameof(kind));
        if (ChannelsOf(kind) is int channels)
        {
            if (numClasses != channels)
                throw new ArgumentException($"Task '{name}' of kind {kind} has {channels} output channel(s); got numClasses = {numClasses}.", nameof(numClasses));
        }
        else if (numClasses < 2) throw new ArgumentException($"Task '{name}' needs at least 2 classes, got {numClasses}.", nameof(numClasses));
        if (classNames is not null && classNames.Count != numClasses)
            throw new ArgumentException($"Task '{name}' has {numClasses} classes but {classNames.Count} class names.", nameof(classNames));
        Name = name;
        Kind = kind;
        NumClasses = numClasses;
        ClassNames = classNames?.ToArray() ?? Enumerable.Range(0, numClasses).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Unique task name.</summary>
    public string Name { get; }

    /// <summary>What the decoder predicts.</summary>
    public TaskKind Kind { get; }

    /// <summary>Number of classes K.</summary>
    public int NumClasses { get; }

    /// <summary>Class names, length K.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>
    /// Label value that marks a pixel to ignore in the loss and the metrics, or null for none. Segmentation: a class
    /// index outside [0, K) such as 255 (PASCAL's convention); depth: e.g. 0 for "no measurement" (pixels whose depth is
    /// not finite or not positive are always ignored); normals: pixels whose label vector is all zero are always ignored;
    /// edges and saliency: e.g. 255 on a 0/1 map. Not used by classification.
    /// </summary>
    public double? IgnoreValue { get; init; }

    /// <summary>True for the per-pixel kinds (everything but <see cref="TaskKind.Classification"/>).</summary>
    public bool IsPerPixel => Kind != TaskKind.Classification;

    /// <summary>Channels of the decoder output: K for classification and segmentation, else <see cref="ChannelsOf"/>.</summary>
    public int OutputChannels => ChannelsOf(Kind) ?? NumClasses;

    /// <summary>Direction of the task's primary metric (<see cref="PrimaryMetric"/>): true when larger is better.</summary>
    public bool HigherIsBetter => Kind is not (TaskKind.Depth or TaskKind.Normals);

    /// <summary>Name of the primary metric, the one the calibration table and the search use: accuracy, mIoU, RMSE,
    /// mean angular error (degrees), F-measure at 0.5 (edges) or max F-measure (saliency).</summary>
    public string PrimaryMetric => Kind switch
    {
        TaskKind.Classification => "accuracy",
        TaskKind.Segmentation => "mIoU",
        TaskKind.Depth => "RMSE",
        TaskKind.Normals => "meanAngleError",
        TaskKind.Edges => "F",
        TaskKind.Saliency => "maxF",
        _ => throw new InvalidOperationException($"Unknown task kind {Kind}."),
    };

    /// <summary>Output channels fixed by the kind: 1 for depth, edges and saliency, 3 for normals; null for the kinds
    /// whose channel count is a number of classes.</summary>
    public static int? ChannelsOf(TaskKind kind) => kind switch
    {
        TaskKind.Depth or TaskKind.Edges or TaskKind.Saliency => 1,
        TaskKind.Normals => 3,
        _ => null,
    };

    /// <summary>A per-pixel task whose channel count is fixed by its kind (depth, normals, edges, saliency).</summary>
    /// <exception cref="ArgumentException">The kind has classes (use the constructor).</exception>
    public static TaskDefinition PerPixel(string name, TaskKind kind, double? ignoreValue = null) =>
        new(name, kind, ChannelsOf(kind) ?? throw new ArgumentException($"Kind {kind} needs a number of classes; use the constructor.", nameof(kind)))
        { IgnoreValue = ignoreValue };
}
