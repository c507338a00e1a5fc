using Microsoft.ML;
using MLNetSlim.Architecture;

namespace MLNetSlim.Datasets;

/// <summary>
/// PASCAL-Context in the multi-task layout of public multi-task code (the <c>PASCAL_MT</c> folder of Vandenhende et al.'s
/// Multi-Task-Learning-PyTorch, after Maninis et al., CVPR 2019, "Attentive Single-Tasking of Multiple Tasks"): 4,998
/// train and 5,105 val images, tasks semantic segmentation, human parts, saliency, surface normals and edges. Files read
/// (docs/data.md; the folder and value conventions are the layout's, the PNG variants of the .mat labels are this
/// loader's and documented there):
/// <list type="bullet">
/// <item><c>ImageSets/Context/&lt;split&gt;.txt</c>: image ids (splits <c>train</c>, <c>val</c>);</item>
/// <item><c>JPEGImages/&lt;id&gt;.jpg</c>: the image (column <c>ImagePath</c>);</item>
/// <item><c>semseg/VOC12/&lt;id&gt;.png</c>, else <c>semseg/pascal-context/&lt;id&gt;.png</c> (8-bit grayscale or
/// palette indices): 21 classes (background + the 20 VOC classes) as stored, 255 ignored; or, with
/// <c>semsegClasses: 59</c>, <c>SegmentationClassContext/&lt;id&gt;.png</c> of the 59-class PASCAL-Context benchmark:
/// 0 (outside the 59 classes) -> 255 (ignored), c in 1..59 -> c - 1;</item>
/// <item><c>human_parts/&lt;id&gt;.png</c> (8-bit): 0 background, 1..6 the six part groups (head, torso, upper arms,
/// lower arms and hands, upper legs, lower legs and feet), 255 ignored; a map that is all 0 (an image without annotated
/// people) is ignored entirely. The layout's <c>human_parts/&lt;id&gt;.mat</c> is not read;</item>
/// <item><c>sal_distill/&lt;id&gt;.png</c> (8-bit): saliency = value / 255 &gt; 0.5;</item>
/// <item><c>normals_distill/&lt;id&gt;.png</c> (RGB, 8-bit): n = 2 value / 255 - 1 per channel (x, y, z), then
/// normalised to unit length;</item>
/// <item><c>edge/&lt;id&gt;.png</c> (8-bit): edge where the value is &gt; 0. The layout's
/// <c>pascal-context/trainval/&lt;id&gt;.mat</c> is not read.</item>
/// </list>
/// </summary>
public static class PascalContext
{
    /// <summary>The tasks in column order with 21 segmentation classes: <c>semseg</c>, <c>human_parts</c> (7 classes),
    /// <c>sal</c>, <c>normals</c>, <c>edge</c>.</summary>
    public static IReadOnlyList<TaskDefinition> Tasks { get; } = Layout(21).Tasks.Select(t => t.Definition).ToArray();

    /// <summary>The text column with the image id (<c>Name</c>).</summary>
    public const string NameColumn = DenseSceneLayout.NameColumn;

    /// <summary>The text column with the image's full path (<c>ImagePath</c>).</summary>
    public const string ImagePathColumn = DenseSceneLayout.ImagePathColumn;

    private static DenseSceneLayout Layout(int semsegClasses) => new()
    {
        DataSetName = "PASCAL-Context",
        ImageFolder = "JPEGImages",
        ImageExtension = ".jpg",
        SplitFolder = Path.Combine("ImageSets", "Context"),
        Tasks =
        [
            semsegClasses == 21
                ? new(new TaskDefinition("semseg", TaskKind.Segmentation, 21) { IgnoreValue = 255 }, [Path.Combine("semseg", "VOC12"), Path.Combine("semseg", "pascal-context")], ".png", 1,
                    v => DenseSceneLayout.CheckClasses(v, 21, 255), [])
                : new(new TaskDefinition("semseg", TaskKind.Segmentation, 59) { IgnoreValue = 255 }, ["SegmentationClassContext"], ".png", 1, v =>
                {
                    for (int i = 0; i < v.Length; i++) v[i] = v[i] == 0 ? 255 : v[i] - 1;
                    DenseSceneLayout.CheckClasses(v, 59, 255);
                }, []),
            new(new TaskDefinition("human_parts", TaskKind.Segmentation, 7) { IgnoreValue = 255 }, ["human_parts"], ".png", 1, v =>
            {
                if (Array.TrueForAll(v, x => x == 0)) Array.Fill(v, 255f);
                DenseSceneLayout.CheckClasses(v, 7, 255);
            }, []),
            new(TaskDefinition.PerPixel("sal", TaskKind.Saliency), ["sal_distill"], ".png", 1, v =>
            {
                for (int i = 0; i < v.Length; i++) v[i] = v[i] / 255f > 0.5f ? 1 : 0;
            }, []),
            new(TaskDefinition.PerPixel("normals", TaskKind.Normals), ["normals_distill"], ".png", 3, v =>
            {
                int plane = v.Length / 3;
                for (int p = 0; p < plane; p++)
                {
                    float x = 2 * v[p] / 255 - 1, y = 2 * v[plane + p] / 255 - 1, z = 2 * v[2 * plane + p] / 255 - 1;
                    float norm = MathF.Sqrt(x * x + y * y + z * z) + float.Epsilon;
                    (v[p], v[plane + p], v[2 * plane + p]) = (x / norm, y / norm, z / norm);
                }
            }, []),
            new(TaskDefinition.PerPixel("edge", TaskKind.Edges), ["edge"], ".png", 1, v =>
            {
                for (int i = 0; i < v.Length; i++) v[i] = v[i] > 0 ? 1 : 0;
            }, [Path.Combine("pascal-context", "trainval", "{id}.mat")]),
        ],
    };

    /// <summary>
    /// A split as a lazily read <see cref="IDataView"/>: <c>Name</c>, <c>ImagePath</c> (text), then one
    /// Vector&lt;Single&gt; label column per task in (C, H, W) order at <paramref name="height"/> x <paramref name="width"/>
    /// (C = 3 for normals, else 1). PASCAL images differ in size (up to 500 x 500): each label map is checked against its
    /// own image's size, then resized to the output size by nearest neighbour (class indices, 255 and unit normals
    /// survive exactly); resize the images to the same size with <c>ResizeImages(..., resizing: ResizingKind.Fill)</c>.
    /// </summary>
    /// <param name="root">The <c>PASCAL_MT</c> folder.</param>
    /// <param name="split">A split list in <c>ImageSets/Context/</c>: <c>train</c> or <c>val</c>.</param>
    /// <param name="height">Output H (public multi-task code trains at 512).</param>
    /// <param name="width">Output W (512).</param>
    /// <param name="tasks">The tasks to load (their files must exist); all five when null.</param>
    /// <param name="semsegClasses">21 (the layout's VOC classes) or 59 (the PASCAL-Context benchmark's classes).</param>
    /// <exception cref="DataUnavailableException">The root folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The split list, a listed image or one of its label files is missing.</exception>
    /// <exception cref="NotSupportedException">A label is stored in a kind this loader does not read (e.g. the layout's
    /// <c>.mat</c> human parts and edges); names the file and the supported kind.</exception>
    /// <exception cref="ArgumentException">An unknown task, a non-positive size, or <paramref name="semsegClasses"/> not 21 or 59.</exception>
    /// <remarks>While cursoring: <see cref="InvalidDataException"/> for a label map whose size differs from its image's,
    /// or a value outside its task's classes (naming the file).</remarks>
    public static IDataView LoadDataView(string root, string split = "train", int height = 512, int width = 512, IEnumerable<string>? tasks = null, int semsegClasses = 21)
    {
        if (semsegClasses is not (21 or 59))
            throw new ArgumentException($"semsegClasses must be 21 (VOC classes of the multi-task layout) or 59 (PASCAL-Context benchmark), got {semsegClasses}.", nameof(semsegClasses));
        return Layout(semsegClasses).Load(root, split, height, width, tasks);
    }
}
