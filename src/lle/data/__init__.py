"""Datasets, generators and LightningDataModules. Import the submodules you need; nothing heavy happens here."""
