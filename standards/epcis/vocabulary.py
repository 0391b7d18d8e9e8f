"""EPCIS 2.0 / CBV 2.0 facts: namespace prefixes and the JSON-LD short names of CBV terms.

Taken from the standard EPCIS 2.0 JSON-LD context (ref.gs1.org/standards/epcis/2.0.0/
epcis-context.jsonld), so events can be read and hashed with no network access: in JSON, bizStep
"shipping" means https://ref.gs1.org/cbv/BizStep-shipping, sensor type "Temperature" means
https://gs1.org/voc/Temperature, and so on.
"""

from __future__ import annotations

EPCIS_CONTEXT_URL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

CBV = "https://ref.gs1.org/cbv/"
GS1_VOC = "https://gs1.org/voc/"
CBV_MDA = "urn:epcglobal:cbv:mda:"


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Prefixes the standard context declares.
STANDARD_PREFIXES: dict[str, str] = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": CBV,
    "cbvmda": CBV_MDA,
    "gs1": GS1_VOC,
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": "http://purl.org/dc/terms/",
}

BIZ_STEPS = _names(
    "accepting arriving assembling collecting commissioning consigning creating_class_instance "
    "cycle_counting decommissioning departing destroying disassembling dispensing encoding "
    "entering_exiting holding inspecting installing killing loading other packing picking "
    "receiving removing repackaging repairing replacing reserving retail_selling sampling "
    "sensor_reporting shipping staging_outbound stock_taking stocking storing transporting "
    "unloading unpacking void_shipping"
)
DISPOSITIONS = _names(
    "active available completeness_verified completeness_inferred conformant container_closed "
    "container_open damaged destroyed dispensed disposed encoded expired in_progress in_transit "
    "inactive mismatch_instance mismatch_class mismatch_quantity needs_replacement "
    "no_pedigree_match non_conformant non_sellable_other partially_dispensed recalled reserved "
    "retail_sold returned sellable_accessible sellable_not_accessible stolen unavailable "
    "unknown"
)
BIZ_TRANSACTION_TYPES = _names(
    "bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres upevt"
)
SOURCE_DEST_TYPES = frozenset({"owning_party", "possessing_party", "location"})
ERROR_REASONS = frozenset({"did_not_occur", "incorrect_data"})
MEASUREMENT_TYPES = _names(
    "AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration Radioactivity Altitude "
    "AmountOfSubstance AmountOfSubstancePerUnitVolume Angle AngularAcceleration AngularMomentum "
    "AngularVelocity Area Capacitance Conductance Conductivity Count Density Dimensionless "
    "DoseEquivalent DoseEquivalentRate DynamicViscosity ElectricCharge ElectricCurrent "
    "ElectricCurrentDensity ElectricFieldStrength Energy Exposure Force Frequency Illuminance "
    "Inductance Irradiance KinematicViscosity Length LinearMomentum Luminance LuminousFlux "
    "LuminousIntensity MagneticFlux MagneticFluxDensity MagneticVectorPotential Mass "
    "MassConcentration MassFlowRate MassPerAreaTime MemoryCapacity MolalityOfSolute MolarEnergy "
    "MolarMass MolarVolume Power Pressure RadiantFlux RadiantIntensity RelativeHumidity "
    "Resistance Resistivity SolidAngle SpecificVolume Speed SurfaceDensity SurfaceTension "
    "Temperature Time Torque Voltage Volume VolumeFlowRate VolumeFraction VolumetricFlux "
    "Wavenumber"
)
SENSOR_ALERTS = frozenset({"ALARM_CONDITION", "ERROR_CONDITION"})
COMPONENTS = _names(
    "x y z axial_distance azimuth height spherical_radius polar_angle elevation_angle easting "
    "northing latitude longitude altitude"
)

#: Field -> (short names it accepts, the IRI prefix a short name expands to).
VOCAB_FIELDS: dict[str, tuple[frozenset[str], str]] = {
    "bizStep": (BIZ_STEPS, CBV + "BizStep-"),
    "disposition": (DISPOSITIONS, CBV + "Disp-"),
    "persistentDisposition": (DISPOSITIONS, CBV + "Disp-"),
    "bizTransactionType": (BIZ_TRANSACTION_TYPES, CBV + "BTT-"),
    "sourceDestType": (SOURCE_DEST_TYPES, CBV + "SDT-"),
    "errorReason": (ERROR_REASONS, CBV + "ER-"),
    "measurementType": (MEASUREMENT_TYPES, GS1_VOC),
    "exception": (SENSOR_ALERTS, GS1_VOC),
    "component": (COMPONENTS, CBV + "Comp-"),
}

#: Legacy CBV 1.x URNs -> CBV 2.0 web vocabulary.
CBV_URN_TO_WEB: dict[str, str] = {
    "urn:epcglobal:cbv:bizstep:": CBV + "BizStep-",
    "urn:epcglobal:cbv:disp:": CBV + "Disp-",
    "urn:epcglobal:cbv:btt:": CBV + "BTT-",
    "urn:epcglobal:cbv:sdt:": CBV + "SDT-",
    "urn:epcglobal:cbv:er:": CBV + "ER-",
}


def expand_vocab(kind: str, value: str) -> str:
    """A CBV/GS1 short name of vocabulary ``kind`` as its full IRI; anything else unchanged."""
    names, prefix = VOCAB_FIELDS[kind]
    return prefix + value if value in names else value
