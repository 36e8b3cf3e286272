"""The paper's numbers (Chen et al., ICML 2020, arXiv:2002.05709 v3) as data: ImageNet linear evaluation
top-1 % with ResNet-50 unless noted. "Figure only" studies have no numbers; their claims are checked."""

# Table 1: colour distortion strength
TABLE1 = {
    "simclr": {"1/8": 59.6, "1/4": 61.0, "1/2": 62.6, "1": 63.2, "1 (+Blur)": 64.5, "AutoAug": 61.1},
    "supervised": {"1/8": 77.0, "1/4": 76.7, "1/2": 76.5, "1": 75.7, "1 (+Blur)": 75.4, "AutoAug": 77.1},
}

# Table 3: accuracy of an MLP predicting the transformation, from h and from g(h)
TABLE3 = {
    "color_vs_grayscale": {"random": 80.0, "h": 99.3, "gh": 97.4},
    "rotation": {"random": 25.0, "h": 67.6, "gh": 25.6},
    "noise": {"random": 50.0, "h": 99.5, "gh": 59.6},
    "sobel": {"random": 50.0, "h": 96.6, "gh": 56.3},
}

# Table 4: loss functions, each at its best hyperparameters
TABLE4 = {"Margin": 50.9, "NT-Logi.": 51.6, "Margin (sh)": 57.5, "NT-Logi. (sh)": 57.9, "NT-Xent": 63.9}

# Table 5: (l2 norm, temperature) -> entropy, contrastive accuracy, top-1
TABLE5 = {
    (True, 0.05): {"entropy": 1.0, "contrastive_acc": 90.5, "top1": 59.7},
    (True, 0.1): {"entropy": 4.5, "contrastive_acc": 87.8, "top1": 64.4},
    (True, 0.5): {"entropy": 8.2, "contrastive_acc": 68.2, "top1": 60.7},
    (True, 1.0): {"entropy": 8.3, "contrastive_acc": 59.1, "top1": 58.0},
    (False, 10.0): {"entropy": 0.5, "contrastive_acc": 91.7, "top1": 57.2},
    (False, 100.0): {"entropy": 0.5, "contrastive_acc": 92.1, "top1": 57.0},
}

# Table B.1 (Figure 9): (batch, epochs) -> (linear lr scaling, sqrt lr scaling)
TABLE_B1 = {
    (256, 100): (57.5, 62.8), (256, 200): (61.9, 64.3), (256, 400): (64.7, 65.7), (256, 800): (66.6, 66.5),
    (512, 100): (60.7, 63.8), (512, 200): (64.0, 65.6), (512, 400): (66.2, 66.7), (512, 800): (67.8, 67.4),
    (1024, 100): (62.8, 64.3), (1024, 200): (65.3, 66.1), (1024, 400): (67.2, 67.2), (1024, 800): (68.5, 68.3),
    (2048, 100): (64.0, 64.7), (2048, 200): (66.1, 66.8), (2048, 400): (68.1, 67.9), (2048, 800): (68.9, 68.8),
    (4096, 100): (64.6, 64.5), (4096, 200): (66.5, 66.8), (4096, 400): (68.2, 68.0), (4096, 800): (68.9, 69.1),
    (8192, 100): (64.8, 64.8), (8192, 200): (66.6, 67.0), (8192, 400): (67.8, 68.3), (8192, 800): (69.0, 69.1),
}

# Appendix B.9, CIFAR-10 (ResNet-50, CIFAR stem, s 0.5, no blur; grid lr x t x batch 256-4096): the best
# linear evaluation, at batch 1024, and the supervised model's top-1
CIFAR10_B9 = {"simclr": 94.0, "batch": 1024, "supervised": 95.1}

# Figure 7's known endpoints (Table 6): SimCLR 1000 epochs, ResNet-50 at width 1x / 2x / 4x
FIGURE7_ENDPOINTS = {1.0: 69.3, 2.0: 74.2, 4.0: 76.5}
SUPERVISED_R50 = 76.5  # Table B.3, 90 epochs, crop

# Table 7: fine-tuning top-1 (TABLE7) and top-5 (TABLE7_TOP5) on 1 % / 10 % of ImageNet labels
TABLE7 = {
    "supervised (R50)": {0.01: 25.4, 0.1: 56.4},
    "SimCLR (R50)": {0.01: 48.3, 0.1: 65.6},
    "SimCLR (R50 2x)": {0.01: 58.5, 0.1: 71.7},
    "SimCLR (R50 4x)": {0.01: 63.0, 0.1: 74.4},
}
TABLE7_TOP5 = {
    "supervised (R50)": {0.01: 48.4, 0.1: 80.4},
    "SimCLR (R50)": {0.01: 75.5, 0.1: 87.8},
    "SimCLR (R50 2x)": {0.01: 83.0, 0.1: 91.2},
    "SimCLR (R50 4x)": {0.01: 85.8, 0.1: 92.6},
}

# Table 8, linear evaluation, (SimCLR, supervised), standard ResNet-50. The paper's metric is top-1 but for
# VOC2007 (11-point mAP, multi-label: no ImageFolder tree holds it, so no target maps to it) and
# Aircraft, Pets, Caltech-101, Flowers (mean per-class accuracy); ours is top-1 everywhere.
TABLE8_LINEAR = {"food": (68.4, 72.3), "cifar10": (90.6, 93.6), "cifar100": (71.6, 78.3), "birdsnap": (37.4, 53.7),
                 "sun397": (58.8, 61.9), "cars": (50.3, 66.7), "aircraft": (50.3, 61.0), "voc2007": (80.5, 82.8),
                 "dtd": (74.5, 74.9), "pets": (83.6, 91.5), "caltech101": (90.3, 94.5), "flowers": (91.2, 94.7)}
TABLE8_PER_CLASS = ("aircraft", "pets", "caltech101", "flowers")
# what a folder target may be called (eval.transfer "folder:/data/<name>" gives metric key folder_<name>;
# lower case, letters and digits only), the data sets' own archive names included
TABLE8_ALIASES = {"food101": "food", "stanfordcars": "cars", "cars196": "cars", "fgvcaircraft": "aircraft",
                  "fgvcaircraft2013b": "aircraft", "oxfordiiitpet": "pets", "oxfordpets": "pets",
                  "101objectcategories": "caltech101", "flowers102": "flowers", "102flowers": "flowers",
                  "oxfordflowers": "flowers", "oxfordflowers102": "flowers"}

# Appendix ablations
FLIP = {"with flip": 64.5, "without flip": 63.4}
BLUR = {"without blur": 63.2, "with blur": 64.5}
TABLE_B3 = {"crop": 76.5, "crop + colour": 75.6, "crop + colour + blur": 75.3}  # supervised, 90 epochs
