using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Data;
using MLNetSlim.Datasets;

namespace MLNetSlim.Tests.Datasets;

/// <summary>CIFAR100-MTL on small CIFAR-100 binary files that the tests write in the real format.</summary>
[TestClass]
public class Cifar100MtlTests
{
    /// <summary>The CIFAR-100 taxonomy as its home page lists it (https://www.cs.toronto.edu/~kriz/cifar.html: superclass,
    /// then its five classes), with the names of the data set's meta files (underscores). Independent of the loader's
    /// numeric table: label ids follow from it because the data set's names files are in alphabetical order.</summary>
    internal static readonly (string Superclass, string[] Classes)[] Taxonomy =
    [
        ("aquatic_mammals", ["beaver", "dolphin", "otter", "seal", "whale"]),
        ("fish", ["aquarium_fish", "flatfish", "ray", "shark", "trout"]),
        ("flowers", ["orchid", "poppy", "rose", "sunflower", "tulip"]),
        ("food_containers", ["bottle", "bowl", "can", "cup", "plate"]),
        ("fruit_and_vegetables", ["apple", "mushroom", "orange", "pear", "sweet_pepper"]),
        ("household_electrical_devices", ["clock", "keyboard", "lamp", "telephone", "television"]),
        ("household_furniture", ["bed", "chair", "couch", "table", "wardrobe"]),
        ("insects", ["bee", "beetle", "butterfly", "caterpillar", "cockroach"]),
        ("large_carnivores", ["bear", "leopard", "lion", "tiger", "wolf"]),
        ("large_man-made_outdoor_things", ["bridge", "castle", "house", "road", "skyscraper"]),
        ("large_natural_outdoor_scenes", ["cloud", "forest", "mountain", "plain", "sea"]),
        ("large_omnivores_and_herbivores", ["camel", "cattle", "chimpanzee", "elephant", "kangaroo"]),
        ("medium_mammals", ["fox", "porcupine", "possum", "raccoon", "skunk"]),
        ("non-insect_invertebrates", ["crab", "lobster", "snail", "spider", "worm"]),
        ("people", ["baby", "boy", "girl", "man", "woman"]),
        ("reptiles", ["crocodile", "dinosaur", "lizard", "snake", "turtle"]),
        ("small_mammals", ["hamster", "mouse", "rabbit", "shrew", "squirrel"]),
        ("trees", ["maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"]),
        ("vehicles_1", ["bicycle", "bus", "motorcycle", "pickup_truck", "train"]),
        ("vehicles_2", ["lawn_mower", "rocket", "streetcar", "tank", "tractor"]),
    ];

    internal static string[] FineNames => Taxonomy.SelectMany(s => s.Classes).Order(StringComparer.Ordinal).ToArray();

    internal static string[] CoarseNames => Taxonomy.Select(s => s.Superclass).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Writes a CIFAR-100 binary file: for each (fine label, pixel seed) a record whose coarse byte comes from the
    /// name taxonomy above; pixels are a seeded pattern (plus a class-dependent brightness when <paramref name="signal"/>).</summary>
    internal static void WriteBin(string file, IReadOnlyList<int> fines, int seed, bool signal = false)
    {
        string[] fineNames = FineNames, coarseNames = CoarseNames;
        var rng = new Random(seed);
        using var f = File.Create(file);
        foreach (int fine in fines)
        {
            string superclass = Taxonomy.Single(s => s.Classes.Contains(fineNames[fine])).Superclass;
            f.WriteByte((byte)Array.IndexOf(coarseNames, superclass));
            f.WriteByte((byte)fine);
            var pixels = new byte[3072];
            rng.NextBytes(pixels);
            if (signal)
            {
                int k = Array.IndexOf(Taxonomy.Single(s => s.Superclass == superclass).Classes.Order(StringComparer.Ordinal).ToArray(), fineNames[fine]);
                for (int j = 0; j < 1024; j++) pixels[j] = (byte)(k * 60 + rng.Next(16)); // red plane encodes the class in the task
            }
            f.Write(pixels);
        }
    }

    [TestMethod]
    public void Taxonomy_AllTwentySuperclasses_MatchTheStandardNames()
    {
        CollectionAssert.AreEqual(FineNames, Cifar100Mtl.FineClassNames.ToArray(), "fine names = the alphabetical list of the taxonomy's 100 classes");
        CollectionAssert.AreEqual(CoarseNames, Cifar100Mtl.CoarseClassNames.ToArray());
        Assert.AreEqual(20, Cifar100Mtl.Tasks.Count);
        foreach ((string superclass, string[] classes) in Taxonomy)
        {
            int c = Array.IndexOf(CoarseNames, superclass);
            Assert.AreEqual(superclass, Cifar100Mtl.Tasks[c].Name);
            // Task class order = ascending fine id = alphabetical order of the names.
            string[] sorted = classes.Order(StringComparer.Ordinal).ToArray();
            CollectionAssert.AreEqual(sorted, Cifar100Mtl.Tasks[c].ClassNames.ToArray(), superclass);
            CollectionAssert.AreEqual(sorted.Select(n => Array.IndexOf(FineNames, n)).ToArray(), Cifar100Mtl.FineLabelsOfSuperclass[c].ToArray(), superclass);
            for (int k = 0; k < 5; k++)
            {
                int fine = Array.IndexOf(FineNames, sorted[k]);
                Assert.AreEqual(c, Cifar100Mtl.SuperclassOfFine[fine], sorted[k]);
                Assert.AreEqual(k, Cifar100Mtl.TaskClassOf(fine), $"{superclass}/{sorted[k]}");
            }
        }
        // The pitfall of data-sources.md: aquatic mammals are fine ids 4, 30, 55, 72, 95; fine % 5 maps three of them to 0.
        CollectionAssert.AreEqual(new[] { 4, 30, 55, 72, 95 }, Cifar100Mtl.FineLabelsOfSuperclass[0].ToArray());
        CollectionAssert.AreEqual(new[] { 0, 1, 2, 3, 4 }, new[] { 4, 30, 55, 72, 95 }.Select(Cifar100Mtl.TaskClassOf).ToArray());
    }

    [TestMethod]
    public void Load_EveryFineClass_LabelsOnlyItsSuperclassTask_AndKeepsThePixelPlanes()
    {
        string folder = TestData.NewTempFolder();
        int[] fines = Enumerable.Range(0, 100).Reverse().ToArray();
        WriteBin(Path.Combine(folder, "train.bin"), fines, seed: 1);
        File.WriteAllLines(Path.Combine(folder, "fine_label_names.txt"), FineNames);
        File.WriteAllLines(Path.Combine(folder, "coarse_label_names.txt"), CoarseNames);
        byte[] bytes = File.ReadAllBytes(Path.Combine(folder, "train.bin"));

        MultiTaskDataset data = Cifar100Mtl.Load(DataSplit.Train, folder);
        Assert.AreEqual((100, 3, 32, 32), (data.Count, data.Channels, data.Height, data.Width));
        for (int i = 0; i < 100; i++)
        {
            int fine = fines[i];
            string superclass = Taxonomy.Single(s => s.Classes.Contains(FineNames[fine])).Superclass;
            for (int t = 0; t < 20; t++)
            {
                int y = data.Labels[t][i];
                if (data.Tasks[t].Name == superclass)
                    Assert.AreEqual(FineNames[fine], data.Tasks[t].ClassNames[y], $"row {i}: fine {fine}");
                else
                    Assert.AreEqual(MultiTaskDataset.MissingLabel, y, $"row {i}, task {data.Tasks[t].Name}");
            }
        }
        // Pixel (c, y, x) of record i = byte 2 + c*1024 + y*32 + x of the record, / 255.
        foreach ((int i, int c, int y, int x) in new[] { (0, 0, 0, 0), (7, 1, 5, 31), (99, 2, 31, 31), (42, 2, 16, 3) })
            Assert.AreEqual(bytes[i * 3074 + 2 + c * 1024 + y * 32 + x] / 255f, data.Images[i * 3072 + c * 1024 + y * 32 + x]);
        Assert.AreEqual(10, Cifar100Mtl.Load(DataSplit.Train, folder, count: 10).Count);
    }

    [TestMethod]
    public void LoadDataView_StreamsTheSameRows_WithMissingKeysForTheOtherTasks()
    {
        string folder = TestData.NewTempFolder();
        int[] fines = [4, 30, 55, 72, 95, 0, 99];
        WriteBin(Path.Combine(folder, "test.bin"), fines, seed: 2);
        MultiTaskDataset memory = Cifar100Mtl.Load(DataSplit.Test, folder);
        IDataView view = Cifar100Mtl.LoadDataView(DataSplit.Test, folder);
        Assert.AreEqual(7L, view.GetRowCount());
        DataViewSchema.Column features = view.Schema[Cifar100Mtl.FeaturesColumn];
        Assert.AreEqual(3072, ((VectorDataViewType)features.Type).Size);
        DataViewSchema.Column aquatic = view.Schema["aquatic_mammals"];
        Assert.AreEqual(5UL, ((KeyDataViewType)aquatic.Type).Count);
        VBuffer<ReadOnlyMemory<char>> keyValues = default;
        aquatic.GetKeyValues(ref keyValues);
        CollectionAssert.AreEqual(new[] { "beaver", "dolphin", "otter", "seal", "whale" }, keyValues.DenseValues().Select(v => v.ToString()).ToArray());

        using DataViewRowCursor cursor = view.GetRowCursor(view.Schema);
        var getFeatures = cursor.GetGetter<VBuffer<float>>(features);
        var getters = Cifar100Mtl.Tasks.Select(t => cursor.GetGetter<uint>(view.Schema[t.Name])).ToArray();
        var getFine = cursor.GetGetter<uint>(view.Schema[Cifar100Mtl.FineLabelColumn]);
        int row = 0;
        VBuffer<float> pixels = default;
        while (cursor.MoveNext())
        {
            getFeatures(ref pixels);
            CollectionAssert.AreEqual(memory.Images.AsSpan(row * 3072, 3072).ToArray(), pixels.DenseValues().ToArray());
            uint fine = 0;
            getFine(ref fine);
            Assert.AreEqual((uint)fines[row] + 1, fine);
            for (int t = 0; t < 20; t++)
            {
                uint key = 0;
                getters[t](ref key);
                Assert.AreEqual(memory.Labels[t][row] + 1, (int)key, $"row {row} task {t} (0 = missing)");
            }
            row++;
        }
        Assert.AreEqual(7, row);
        // Aquatic mammals 4, 30, 55, 72, 95 are keys 1..5 of their task (not fine % 5 + 1).
        Assert.IsTrue(Enumerable.Range(0, 5).All(i => memory.Labels[0][i] == i));
    }

    [TestMethod]
    public void Errors_NameTheFileTheRecordAndTheValues()
    {
        string folder = TestData.NewTempFolder();
        var missing = Assert.ThrowsExactly<DataUnavailableException>(() => Cifar100Mtl.Load(DataSplit.Train, folder));
        StringAssert.Contains(missing.Message, "train.bin");
        StringAssert.Contains(missing.Message, folder);

        string file = Path.Combine(folder, "train.bin");
        File.WriteAllBytes(file, new byte[3074 * 2 + 5]);
        var size = Assert.ThrowsExactly<InvalidDataException>(() => Cifar100Mtl.Load(DataSplit.Train, folder));
        StringAssert.Contains(size.Message, "has 6153 bytes; expected a positive multiple of 3074");

        WriteBin(file, [4, 30], seed: 3);
        byte[] bytes = File.ReadAllBytes(file);
        bytes[3074] = 1; // record 1: dolphin (30) with coarse label 1 (fish)
        File.WriteAllBytes(file, bytes);
        var coarse = Assert.ThrowsExactly<InvalidDataException>(() => Cifar100Mtl.Load(DataSplit.Train, folder));
        StringAssert.Contains(coarse.Message, "record 1 (0-based): fine label 30 (dolphin) belongs to superclass 0 (aquatic_mammals)");
        StringAssert.Contains(coarse.Message, file);
        // The lazy view finds it while cursoring.
        IDataView view = Cifar100Mtl.LoadDataView(DataSplit.Train, folder);
        using (DataViewRowCursor cursor = view.GetRowCursor(view.Schema))
        {
            ValueGetter<uint> fish = cursor.GetGetter<uint>(view.Schema["fish"]);
            uint key = 0;
            Assert.IsTrue(cursor.MoveNext());
            fish(ref key); // record 0 is fine
            Assert.IsTrue(cursor.MoveNext());
            Assert.ThrowsExactly<InvalidDataException>(() => fish(ref key));
        }

        WriteBin(file, [4], seed: 3);
        string[] names = FineNames;
        names[30] = "porpoise";
        File.WriteAllLines(Path.Combine(folder, "fine_label_names.txt"), names);
        var name = Assert.ThrowsExactly<InvalidDataException>(() => Cifar100Mtl.Load(DataSplit.Train, folder));
        StringAssert.Contains(name.Message, "line 31: 'porpoise'; the standard CIFAR-100 name of label 30 is 'dolphin'");
    }
}
