
namespace MLNetSlim.Datasets;

/// <summary>Shared loading of MNIST-style data sets (four IDX files in one folder).</summary>
internal static class MnistStyle
{
    public static LabeledImages Load(
        string dataSetName, string folderName, DataSplit split, string? path, IReadOnlyList<string> classNames,
        Func<string?> find, string fetchHint)
    {
        string folder;
        if (path is not null)
        {
            folder = Path.GetFullPath(path);
            if (!DataLocator.HasStandardFiles(folder) && DataLocator.HasStandardFiles(Path.Combine(folder, folderName)))
                folder = Path.Combine(folder, folderName);   // the caller gave a data root
        }
        else
        {
            folder = find() ?? throw new DataUnavailableException(
                $"{dataSetName} was not found in the data root {DataLocator.DefaultRoot} (set by {DataLocator.RootVariable}). " +
                $"Fetch it with the demo's fetch-data command (samples/MLNetSlim.Demo) ({fetchHint}), or pass the folder holding its IDX files.");
        }

        string prefix = split == DataSplit.Train ? "train" : "t10k";
        string imagesName = $"{prefix}-images-idx3-ubyte", labelsName = $"{prefix}-labels-idx1-ubyte";
        string? images = DataLocator.ResolveFile(folder, imagesName);
        string? labels = DataLocator.ResolveFile(folder, labelsName);
        if (images is null || labels is null)
        {
            string missing = string.Join(" and ", new[] { images is null ? imagesName : null, labels is null ? labelsName : null }.OfType<string>());
            string state = Directory.Exists(folder) ? "lacks" : "does not exist, so it lacks";
            throw new DataUnavailableException(
                $"{dataSetName} {split.ToString().ToLowerInvariant()} split: folder '{folder}' {state} {missing} (raw or .gz). " +
                $"Fetch {dataSetName} with the demo's fetch-data command (samples/MLNetSlim.Demo) ({fetchHint}), or pass the folder that holds its IDX files.");
        }
        LabeledImages result = IdxReader.ReadLabeledImages(images, labels, classNames);
        if (result.Height != 28 || result.Width != 28)
            throw new InvalidDataException($"{dataSetName} images file '{images}' holds {result.Height}x{result.Width} images; expected 28x28.");
        return result;
    }
}
