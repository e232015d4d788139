"""The static checks of the FinOps Foundation's focus_validator, re-implemented
for costream's FOCUS exports (the validator itself cannot be installed here):
column presence per version, types and formats (NumericFormat, DateTimeFormat,
ISO 4217, UnitFormat), nullability, allowed values, and the cross-column
rules that can be checked within one file.  validate() returns the problems
found, each naming the row (1 = the first data row) and the column.

Sources: FOCUS_Spec, specification/datasets/cost_and_usage/columns/*.md and
specification/attributes/unit_format.md (1.2 and 1.3/1.4 column sets).
"""
import re
from decimal import Decimal, getcontext

getcontext().prec = 120

COMMON = ["BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
          "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
          "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
          "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
          "PricingCategory", "PricingQuantity", "PricingUnit", "ServiceCategory", "ServiceName",
          "ServiceSubcategory", "SkuId", "SkuPriceId", "Tags"]
# mandatory, and conditional or recommended columns that apply to usage charges
COLUMNS = {"1.2": COMMON + ["ProviderName", "PublisherName"],
           "1.4": COMMON + ["ServiceProviderName", "HostProviderName", "InvoiceId", "BillingAccountType", "SkuMeter"]}
NULLABLE = {"ChargeClass", "SubAccountId", "SubAccountName", "SubAccountType", "InvoiceId", "Tags"}
DECIMAL = {"BilledCost", "ConsumedQuantity", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
           "ListCost", "ListUnitPrice", "PricingQuantity"}
DATETIME = {"BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"}
ALLOWED = {
    "ChargeCategory": {"Usage", "Purchase", "Tax", "Credit", "Adjustment"},
    "ChargeClass": {"", "Correction"},
    "ChargeFrequency": {"One-Time", "Recurring", "Usage-Based"},
    "PricingCategory": {"", "Standard", "Dynamic", "Committed", "Other"},
}
SUBCATEGORIES = {
    "AI and Machine Learning": {"AI Platforms", "Bots", "Generative AI", "Machine Learning", "Natural Language Processing"},
    "Analytics": {"Analytics Platforms", "Business Intelligence", "Data Processing", "Search", "Streaming Analytics"},
    "Business Applications": {"Productivity and Collaboration"},
    "Compute": {"Containers", "End User Computing", "Quantum Compute", "Serverless Compute", "Virtual Machines"},
    "Databases": {"Caching", "Data Warehouses", "Ledger Databases", "NoSQL Databases", "Relational Databases",
                  "Time Series Databases"},
    "Developer Tools": {"Developer Platforms", "Continuous Integration and Deployment", "Development Environments",
                        "Source Code Management", "Quality Assurance"},
    "Identity": {"Identity and Access Management"},
    "Integration": {"API Management", "Messaging", "Workflow Orchestration"},
    "Internet of Things": {"IoT Analytics", "IoT Platforms"},
    "Management and Governance": {"Architecture", "Compliance", "Cost Management", "Data Governance",
                                  "Disaster Recovery", "Endpoint Management", "Observability", "Support"},
    "Media": {"Content Creation", "Gaming", "Media Streaming", "Mixed Reality"},
    "Migration": {"Data Migration", "Resource Migration"},
    "Mobile": set(), "Multicloud": {"Multicloud Integration"},
    "Networking": {"Application Networking", "Content Delivery", "Network Connectivity", "Network Infrastructure",
                   "Network Routing", "Network Security"},
    "Security": {"Secret Management", "Security Posture Management", "Threat Detection and Response"},
    "Storage": {"Backup Storage", "Block Storage", "File Storage", "Object Storage", "Storage Platforms"},
    "Web": {"Application Platforms"}, "Other": set(),
}
ISO4217 = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "CNY", "INR", "SEK", "NOK", "DKK", "PLN", "BRL",
           "KWD", "BHD", "SGD", "HKD", "NZD", "ZAR", "MXN", "KRW"}
NUMERIC = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")          # NumericFormat: no exponent, no separators
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")  # ISO 8601, UTC
SIZES = {"b", "B", "Kb", "KB", "Mb", "MB", "Gb", "GB", "Tb", "TB", "Pb", "PB", "Eb", "EB", "Kib", "KiB", "Mib",
         "MiB", "Gib", "GiB", "Tib", "TiB", "Pib", "PiB", "Eib", "EiB"}
TIMES = {"Year": "Years", "Month": "Months", "Day": "Days", "Hour": "Hours", "Minute": "Minutes",
         "Second": "Seconds", "Millisecond": "Milliseconds", "Microsecond": "Microseconds"}


def unit_ok(u):
    """UnitFormat: base units hyphen-joined, <singular>-<plural> for compounds,
    plural for a simple unit; data sizes abbreviated; others capitalised."""
    m = re.fullmatch(r"(?:[1-9][0-9]* )?([^/ ]+)", u)
    if not m:
        return False
    parts = m.group(1).split("-")
    if len(parts) > 2:
        return False
    for i, p in enumerate(parts):
        last = i == len(parts) - 1
        if p in SIZES:
            continue
        if p in TIMES or p in TIMES.values():
            if (p in TIMES.values()) != last:  # singular first, plural last
                return False
            continue
        if p.lower() in {s.lower() for s in SIZES} or p.rstrip("s") in TIMES or p.lower().rstrip("s").capitalize() in TIMES:
            return False  # a size or time unit spelled another way
        if not re.fullmatch(r"v?[A-Z][A-Za-z0-9]*", p):
            return False
    return True


def validate(header, rows, version):
    problems = []
    for col in COLUMNS[version]:
        if col not in header:
            problems.append("column %s is missing (FOCUS %s)" % (col, version))
    if version == "1.4" and ("ProviderName" in header or "PublisherName" in header):
        problems.append("ProviderName/PublisherName are replaced by ServiceProviderName/HostProviderName")
    for n, r in enumerate(rows, 1):
        def bad(col, why):
            problems.append("row %d %s: %s (%r)" % (n, col, why, r.get(col)))
        for col in COLUMNS[version]:
            if col in r and r[col] == "" and col not in NULLABLE and not (col == "PricingCategory" and r.get("SkuPriceId") == ""):
                bad(col, "null in a column that allows none")
        for col in DECIMAL & set(r):
            if r[col] != "" and not NUMERIC.match(r[col]):
                bad(col, "not NumericFormat")
        for col in DATETIME & set(r):
            if not DATETIME_RE.match(r[col]):
                bad(col, "not an ISO 8601 UTC date-time")
        if r.get("BillingCurrency") not in ISO4217:
            bad("BillingCurrency", "not ISO 4217")
        for col, allowed in ALLOWED.items():
            if col in r and r[col] not in allowed:
                bad(col, "not an allowed value")
        cat, sub = r.get("ServiceCategory"), r.get("ServiceSubcategory")
        if cat not in SUBCATEGORIES:
            bad("ServiceCategory", "not an allowed value")
        elif sub is not None and sub != "Other (%s)" % cat and sub not in SUBCATEGORIES[cat]:
            bad("ServiceSubcategory", "not a subcategory of %s" % cat)
        for col in ("PricingUnit", "ConsumedUnit"):
            if r.get(col) and not unit_ok(r[col]):
                bad(col, "not UnitFormat")
        if (r.get("PricingCategory", "") == "") != (r.get("SkuPriceId", "") == ""):
            bad("PricingCategory", "null exactly when SkuPriceId is null")
        if r.get("ChargeCategory") == "Purchase" and r.get("ChargeFrequency") == "Usage-Based":
            bad("ChargeFrequency", "Usage-Based for a purchase")
        if r.get("ContractedUnitPrice") and r.get("PricingQuantity"):
            if Decimal(r["ContractedCost"]) != Decimal(r["ContractedUnitPrice"]) * Decimal(r["PricingQuantity"]):
                bad("ContractedCost", "is not ContractedUnitPrice x PricingQuantity exactly")
        if r.get("ChargeCategory") in ("Usage", "Purchase") and Decimal(r["EffectiveCost"]) != Decimal(r["BilledCost"]):
            bad("EffectiveCost", "differs from BilledCost without commitments")
        if not r["BillingPeriodStart"] < r["BillingPeriodEnd"] or not r["ChargePeriodStart"] < r["ChargePeriodEnd"]:
            bad("ChargePeriodEnd", "a period that does not end after it starts")
        if r.get("ChargeClass") != "Correction" and not (r["BillingPeriodStart"] <= r["ChargePeriodStart"]
                                                        and r["ChargePeriodEnd"] <= r["BillingPeriodEnd"]):
            bad("ChargePeriodStart", "outside the billing period (and not a correction)")
        # ListCost sums per-event costs rounded at the 12th decimal: within half a unit per event
        events = Decimal(r.get("x_Events") or 1)
        if abs(Decimal(r["ListCost"]) - Decimal(r["ListUnitPrice"]) * Decimal(r["PricingQuantity"])) > events * Decimal("0.5e-12"):
            bad("ListCost", "is not ListUnitPrice x PricingQuantity (beyond per-event rounding)")
    return problems
