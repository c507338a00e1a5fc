using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Architecture;

[TestClass]
public class WidthConfigurationTests
{
    [TestMethod]
    public void ActiveChannels_RoundsHalfAwayFromZero_AndKeepsOne()
    {
        Assert.AreEqual(8, WidthSet.ActiveChannels(32, 0.25));
        Assert.AreEqual(3, WidthSet.ActiveChannels(10, 0.25)); // 2.5 -> 3
        Assert.AreEqual(1, WidthSet.ActiveChannels(2, 0.25));  // 0.5 -> 1
        Assert.AreEqual(1, WidthSet.ActiveChannels(1, 0.25));  // never zero
    }

    [TestMethod]
    public void WidthSet_Validates()
    {
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new WidthSet(0.25, 0.5)).Message, "1.0");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new WidthSet(0, 1)).Message, "(0, 1]");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new WidthSet(0.5, 0.5, 1)).Message, "distinct");
        Assert.AreEqual(new WidthSet(1, 0.5), WidthSet.Parse("0.5, 1"));
    }

    [TestMethod]
    public void Configuration_ParsesItsOwnText_AndValidates()
    {
        var c = new WidthConfiguration(0.5, 1.0, 0.25);
        Assert.AreEqual("enc=0.5 dec=1,0.25", c.ToString());
        Assert.AreEqual(c, WidthConfiguration.Parse(c.ToString()));
        c.Validate(WidthSet.Default, 2, 3);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => c.Validate(WidthSet.Default, 3, 3)).Message, "3 tasks");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new WidthConfiguration(0.6, 1.0).Validate(WidthSet.Default, 1, 2)).Message, "Encoder width 0.6");
        Assert.ThrowsExactly<FormatException>(() => WidthConfiguration.Parse("enc=0.5"));
    }
}
