namespace MLNetSlim.Model;

/// <summary>
/// The one exception every MLNetSlim reader throws for a damaged, truncated or foreign model file: a model stream
/// (<c>ControllableMultiTaskModel.Load</c>), a training checkpoint, a serving bundle (<c>MLNetSlim.Serving</c>), or an ML.NET model zip holding an MLNetSlim
/// transformer (<c>mlContext.Model.LoadChecked</c>, and <c>mlContext.Model.Load</c> once MLNetSlim's loader runs).
/// The message names the file (when known), the entry or section, and what is wrong; it never quotes file content.
/// Also thrown for a file of a newer format version (the message names both versions) and for weights that do not
/// match the saved architecture. See docs/model-format.md and docs/errors.md.
/// </summary>
public sealed class InvalidModelFileException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="fileName">The file, or null when reading a stream.</param>
    /// <param name="entryName">The zip entry or the section of the model stream, or null for the whole file.</param>
    /// <param name="problem">What is wrong, without file content.</param>
    /// <param name="innerException">The low-level error, if any.</param>
    public InvalidModelFileException(string? fileName, string? entryName, string problem, Exception? innerException = null)
        : base(Compose(fileName, entryName, problem), innerException)
    {
        FileName = fileName;
        EntryName = entryName;
        Problem = problem;
    }

    /// <summary>The file, or null when a stream was read.</summary>
    public string? FileName { get; }

    /// <summary>The zip entry or model-stream section, or null when the problem concerns the whole file.</summary>
    public string? EntryName { get; }

    /// <summary>What is wrong.</summary>
    public string Problem { get; }

    /// <summary>The same error, naming <paramref name="fileName"/> (when none was known yet).</summary>
    internal InvalidModelFileException WithFile(string fileName) =>
        FileName is null ? new InvalidModelFileException(fileName, EntryName, Problem, InnerException) : this;

    /// <summary>The same error, naming <paramref name="entryName"/> (when none was known yet).</summary>
    internal InvalidModelFileException WithEntry(string entryName) =>
        EntryName is null ? new InvalidModelFileException(FileName, entryName, Problem, InnerException) : this;

    private static string Compose(string? file, string? entry, string problem) =>
        $"Invalid MLNetSlim model file {(file is null ? "(stream)" : $"'{file}'")}{(entry is null ? "" : $", entry '{entry}'")}: {problem}";
}
