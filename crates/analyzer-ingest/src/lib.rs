//! MQTT ingestion for the MeshCore analyzer.
