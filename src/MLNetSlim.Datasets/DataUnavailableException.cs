namespace MLNetSlim.Datasets;

/// <summary>A data set is not on disk and could not be fetched; the message says what is missing and how to get it.</summary>
public sealed class DataUnavailableException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is missing and how to get it.</param>
    public DataUnavailableException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    /// <param name="message">What is missing and how to get it.</param>
    /// <param name="inner">The cause.</param>
    public DataUnavailableException(string message, Exception inner) : base(message, inner) { }
}
