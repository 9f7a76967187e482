// The UI Kit page: one file, bundled by `forge deploy` itself. Its data comes from the backend's Forge Remote
// endpoint (GET /jira/forge/api/projects), which verifies the invocation token Forge attaches.
import React, { useEffect, useState } from 'react';
import ForgeReconciler, { DynamicTable, SectionMessage, Spinner, Text } from '@forge/react';
import { invokeRemote } from '@forge/bridge';

const head = { cells: [{ key: 'key', content: 'Key' }, { key: 'name', content: 'Name' }] };

const App = () => {
  const [state, setState] = useState({ loading: true });
  useEffect(() => {
    invokeRemote({ path: '/jira/forge/api/projects', method: 'GET' })
      .then((response) => setState({ data: response.body ?? response }))
      .catch((error) => setState({ error: String(error) }));
  }, []);
  if (state.loading) return <Spinner label="Loading projects" />;
  if (state.error || state.data.error) {
    return <SectionMessage appearance="error"><Text>{state.error || state.data.error}</Text></SectionMessage>;
  }
  const rows = state.data.projects.map((project) => ({
    key: project.key,
    cells: [{ key: 'key', content: project.key }, { key: 'name', content: project.name }],
  }));
  return (
    <>
      <Text>Installation {state.data.installationId}, Connect tenant {state.data.clientKey ?? 'not linked yet'}</Text>
      <DynamicTable head={head} rows={rows} emptyView="No projects" />
    </>
  );
};

ForgeReconciler.render(<App />);
