namespace MLNetSlim.Architecture;

/// <summary>What a task decoder predicts.</summary>
public enum TaskKind
{
    /// <summary>One class per image: the decoder outputs logits of shape (N, K).</summary>
    Classification = 0,

    /// <summary>One class per pixel: the decoder outputs logits of shape (N, K, H, W).</summary>
    Segmentation = 1,
}

/// <summary>One task of a multi-task network: its name, kind and number of classes.</summary>
public sealed record TaskDefinition
{
    /// <summary>Creates a task.</summary>
    /// <param name="name">Unique task name; used in column names (Score.&lt;Name&gt;) and task weights.</param>
    /// <param name="kind">What the decoder predicts.</param>
    /// <param name="numClasses">Number of classes, at least 2.</param>
    /// <param name="classNames">Optional class names (length <paramref name="numClasses"/>); defaults to "0".."K-1".</param>
    /// <exception cref="ArgumentException">Empty name, fewer than 2 classes, or class names of the wrong length.</exception>
    public TaskDefinition(string name, TaskKind kind, int numClasses, IReadOnlyList<string>? classNames = null)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("A task needs a name.", nameof(name));
        if (numClasses < 2) throw new ArgumentException($"Task '{name}' needs at least 2 classes, got {numClasses}.", nameof(numClasses));
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
}
